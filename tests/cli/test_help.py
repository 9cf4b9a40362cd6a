"""Every command explains itself."""

from __future__ import annotations

import subprocess

import pytest

from tests.cli.commands import environment
from tests.processes import CHATTREE


def help_of(*args: str) -> str:
    result = subprocess.run(
        [CHATTREE, *args, "--help"],
        env=environment({}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_overview_lists_every_command_with_examples() -> None:
    text = help_of()
    for command in ("serve", "demo", "migrate", "create-user", "check", "schema"):
        assert f"\n    {command}" in text
    assert "examples:" in text and "chattree demo" in text


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("serve", "MODEL_BASE_URL"),
        ("demo", "no language model needed"),
        ("migrate", "at start-up"),
        ("create-user", "--username USERNAME"),
        ("check", "OK or FAIL"),
        ("schema", "schema.graphql"),
    ],
)
def test_each_command_has_its_own_help(command: str, says: str) -> None:
    text = help_of(command)
    assert text.startswith(f"usage: chattree {command}")
    assert says in text


def test_a_missing_command_is_an_error_that_lists_them() -> None:
    result = subprocess.run(
        [CHATTREE], env=environment({}), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "the following arguments are required: COMMAND" in result.stderr

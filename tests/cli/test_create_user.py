"""`chattree create-user`: a password from a terminal (asked twice, never echoed) or from
standard input, and an account that can log in."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

from tests.cli.commands import chattree, environment
from tests.harness import Api
from tests.processes import CHATTREE

LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { user { username } } }"
)
PASSWORD = "a long passphrase"


async def test_a_password_from_standard_input_makes_an_account_that_logs_in(
    api: Api, server_env: dict[str, str]
) -> None:
    result = await chattree(
        "create-user", "--username", "ada", env=server_env, stdin=f"{PASSWORD}\n"
    )
    assert result.returncode == 0, result.stderr
    assert "created user 'ada'" in result.stdout
    data = await api.ok(LOGIN, {"u": "ada", "p": PASSWORD})
    assert data["login"]["user"]["username"] == "ada"


async def test_a_taken_username_is_refused(
    api: Api, alice: str, server_env: dict[str, str]
) -> None:
    result = await chattree(
        "create-user", "--username", "alice", env=server_env, stdin=f"{PASSWORD}\n"
    )
    assert result.returncode == 1
    assert "the username 'alice' is taken" in result.stderr
    # Alice keeps her own password.
    error = await api.fails(LOGIN, {"u": "alice", "p": PASSWORD})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_bad_input_creates_nothing(api: Api, server_env: dict[str, str]) -> None:
    short = await chattree("create-user", "--username", "ada", env=server_env, stdin="short\n")
    assert short.returncode == 1
    assert "password must be 8 to 1024 characters" in short.stderr
    bad_name = await chattree(
        "create-user", "--username", "Ada!", env=server_env, stdin=f"{PASSWORD}\n"
    )
    assert bad_name.returncode == 1
    assert "username must be 3-32 characters" in bad_name.stderr
    empty = await chattree("create-user", "--username", "ada", env=server_env, stdin="")
    assert empty.returncode == 1
    assert "no password given" in empty.stderr
    error = await api.fails(LOGIN, {"u": "ada", "p": PASSWORD})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


class Terminal:
    """`chattree create-user` on a pseudo-terminal, as a person at a keyboard runs it."""

    def __init__(self, env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen(
            [CHATTREE, "create-user", "--username", "ada"],
            env=environment(env),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
        os.close(slave)
        self.seen = b""

    def expect(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text.encode() not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} within {timeout} s; the terminal shows {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 1024)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"the terminal closed before {text!r}: {self.seen!r}"
                self.seen += chunk

    def type(self, line: str) -> None:
        os.write(self.master, f"{line}\n".encode())

    def finish(self) -> int:
        code = self.process.wait(timeout=30)
        os.close(self.master)
        return code


def sqlite_env(tmp_path: Path) -> dict[str, str]:
    return {"DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"}


def test_on_a_terminal_the_password_is_asked_twice_and_never_echoed(tmp_path: Path) -> None:
    terminal = Terminal(sqlite_env(tmp_path))
    terminal.expect("Password: ")
    terminal.type(PASSWORD)
    terminal.expect("Password (again): ")
    terminal.type(PASSWORD)
    terminal.expect("created user 'ada'")
    assert terminal.finish() == 0
    assert PASSWORD.encode() not in terminal.seen


def test_on_a_terminal_two_different_passwords_create_nothing(tmp_path: Path) -> None:
    terminal = Terminal(sqlite_env(tmp_path))
    terminal.expect("Password: ")
    terminal.type(PASSWORD)
    terminal.expect("Password (again): ")
    terminal.type("another long passphrase")
    terminal.expect("the passwords differ; nothing was changed")
    assert terminal.finish() == 1
    # The second try with the same name succeeds: the first stored nothing.
    again = subprocess.run(
        [CHATTREE, "create-user", "--username", "ada"],
        env=environment(sqlite_env(tmp_path)),
        input=f"{PASSWORD}\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 0, again.stderr

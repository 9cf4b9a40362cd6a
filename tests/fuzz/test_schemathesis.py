"""schemathesis fuzzes the running server through its introspected schema, signed in as
a registered user, within a bounded budget: no 5xx, no INTERNAL error, no hang, and the
server logs no traceback for any of the inputs it refused."""

from __future__ import annotations

import logging
import os
import random
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.commands import run_command
from tests.fuzz.checks import no_server_failure
from tests.harness import Api

SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))
ROOT = Path(__file__).resolve().parents[2]
# Per operation; 18 operations, in both generation modes, take well under a minute here.
MAX_EXAMPLES = 8
RUN_TIMEOUT = 240.0


async def fuzz(api: Api, token: str, seed: int) -> tuple[int, str]:
    code, out, err = await run_command(
        SCHEMATHESIS,
        "--no-color",
        "run",
        f"{api.url}/graphql",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "no_server_failure",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        str(seed),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        # An Upload travels as a multipart request, which a JSON-body fuzzer cannot
        # make; tests/portability sends it real and broken files.
        "--exclude-name",
        "Mutation.importConversations",
        cwd=ROOT,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.checks"},
        timeout=RUN_TIMEOUT,
    )
    return code, out + err


@pytest.mark.timeout(RUN_TIMEOUT + 30)
async def test_fuzzed_requests_never_fail_on_the_server(
    api: Api, alice: str, caplog: pytest.LogCaptureFixture
) -> None:
    seed = random.randrange(2**32)
    with caplog.at_level(logging.INFO):
        code, output = await fuzz(api, alice, seed)
    assert code == 0, f"seed {seed}:\n{output[-10_000:]}"
    assert "passed" in output and " 0 passed" not in output, output[-2_000:]
    tracebacks = [record for record in caplog.records if record.exc_info]
    assert tracebacks == [], f"seed {seed}: {[r.getMessage() for r in tracebacks]}"
    refused = [record for record in caplog.records if record.name == "chattree.errors"]
    assert refused, "the fuzzer's invalid inputs should have been refused and logged"


def response(status: int, body: dict[str, Any]) -> Any:
    return SimpleNamespace(status_code=status, text=str(body), json=lambda: body)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (502, {"errors": [{"message": "bad gateway"}]}),
        (200, {"data": None, "errors": [{"message": "x", "extensions": {"code": "INTERNAL"}}]}),
        (200, {"data": None, "errors": [{"message": "unmapped"}]}),
    ],
)
def test_the_fuzz_check_fails_on_server_failures(status: int, body: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        no_server_failure(None, response(status, body), None)


@pytest.mark.parametrize(
    "body",
    [
        {"data": {"me": None}},
        {"data": None, "errors": [{"message": "x", "extensions": {"code": "NOT_FOUND"}}]},
        {"errors": [{"message": "x", "extensions": {"code": "GRAPHQL_PARSE_FAILED"}}]},
    ],
)
def test_the_fuzz_check_accepts_client_errors(body: dict[str, Any]) -> None:
    no_server_failure(None, response(200, body), None)

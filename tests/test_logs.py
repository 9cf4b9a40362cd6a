"""What operators read: one line per record in either format, ids on each, no secrets."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chattree import logs
from tests.processes import serving

# Nothing in it is escaped in a URL, so a query string in a log would show it as it is.
PASSWORD = "correct-horse-battery-staple-42"
LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"


def record(message: str = "hello %s", args: tuple[object, ...] = ("world",)) -> logging.LogRecord:
    made = logging.LogRecord("chattree.test", logging.WARNING, __file__, 1, message, args, None)
    logs.ContextFilter().filter(made)
    return made


def failing() -> logging.LogRecord:
    try:
        raise RuntimeError("broken on purpose")
    except RuntimeError:
        made = logging.LogRecord(
            "chattree.errors", logging.ERROR, __file__, 1, "INTERNAL", (), sys.exc_info()
        )
    logs.ContextFilter().filter(made)
    return made


def test_records_carry_the_request_and_message_they_were_written_for() -> None:
    request = logs.request_id.set("req-1")
    message = logs.message_id.set(7)
    try:
        stamped = record()
    finally:
        logs.message_id.reset(message)
        logs.request_id.reset(request)
    assert (stamped.request_id, stamped.message_id) == ("req-1", 7)
    assert (record().request_id, record().message_id) == (None, None)


def test_a_text_line_names_its_request_and_message() -> None:
    request = logs.request_id.set("req-1")
    message = logs.message_id.set(7)
    try:
        line = logs.TextFormatter().format(record())
    finally:
        logs.message_id.reset(message)
        logs.request_id.reset(request)
    assert line.endswith(" WARNING chattree.test [request=req-1 message=7]: hello world")
    assert logs.TextFormatter().format(record()).endswith(" WARNING chattree.test: hello world")


def test_a_json_line_is_one_object_with_the_traceback_as_text() -> None:
    token = logs.request_id.set("req-2")
    try:
        line = logs.JsonFormatter().format(failing())
    finally:
        logs.request_id.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert entry["logger"] == "chattree.errors"
    assert entry["message"] == "INTERNAL"
    assert entry["request_id"] == "req-2"
    assert "message_id" not in entry
    assert entry["exc_info"].startswith("Traceback")
    assert "broken on purpose" in entry["exc_info"]
    assert entry["time"].endswith("+00:00")


def test_the_query_string_of_an_access_line_is_dropped() -> None:
    access = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/graphql?variables=%7B%22p%22%3A%22secret%22%7D", "1.1", 200),
        None,
    )
    logs.ContextFilter().filter(access)
    assert access.getMessage() == '127.0.0.1:5000 - "GET /graphql HTTP/1.1" 200'


def test_one_line_escapes_line_breaks_and_cuts_long_text() -> None:
    assert logs.one_line("a\nb\tc\x1b[31m") == "a\\nb\\tc\\x1b[31m"
    assert logs.one_line("x" * 400) == "x" * 300 + "..."
    assert logs.one_line("ünïcode stays") == "ünïcode stays"


@pytest.mark.parametrize("incoming", ["abc", "a" * 128, "trace-1/span.2:x@y+z=="])
def test_a_sane_request_id_is_accepted(incoming: str) -> None:
    assert logs.accepted_request_id(incoming) == incoming


@pytest.mark.parametrize("incoming", [None, "", "a" * 129, "a b", "a\nb", "ü", "<script>"])
def test_any_other_request_id_is_replaced_by_a_fresh_one(incoming: str | None) -> None:
    replaced = logs.accepted_request_id(incoming)
    assert replaced != incoming and len(replaced) == 16


async def fail_to_log_in(url: str) -> tuple[str, str]:
    """Registers, then fails a login by POST and by GET; the token and the request id."""
    async with aiohttp.ClientSession() as http:
        register = (
            "mutation($u: String!, $p: String!) { register(username: $u, password: $p) { token } }"
        )
        async with http.post(
            f"{url}/graphql", json={"query": register, "variables": {"u": "ada", "p": PASSWORD}}
        ) as response:
            token: str = (await response.json())["data"]["register"]["token"]
        wrong = {"u": "ada", "p": PASSWORD + "!"}
        async with http.post(
            f"{url}/graphql",
            json={"query": LOGIN, "variables": wrong},
            headers={"Authorization": f"Bearer {token}"},
        ) as response:
            body: dict[str, Any] = await response.json()
            assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            request_id = response.headers["X-Request-ID"]
        # A mutation over GET is refused, but its URL (and the password in it) reached us.
        async with http.get(
            f"{url}/graphql", params={"query": LOGIN, "variables": json.dumps(wrong)}
        ) as response:
            assert response.status >= 400
    return token, request_id


async def failed_login_log(
    server_env: dict[str, str], log_path: Path, log_format: str, *, plain_uvicorn: bool = False
) -> tuple[str, str, str]:
    """What a server logged around a failed login: its log, the token and the request id."""
    env = server_env | {"LOG_FORMAT": log_format}
    async with serving(env, log_path, plain_uvicorn=plain_uvicorn) as server:
        token, request_id = await fail_to_log_in(server.url)
    return await asyncio.to_thread(log_path.read_text), token, request_id


async def test_text_logs_have_one_line_per_client_error_and_no_secrets(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    text, token, request_id = await failed_login_log(server_env, tmp_path / "server.log", "text")
    [line] = [line for line in text.splitlines() if "UNAUTHENTICATED" in line]
    assert f"[request={request_id}]" in line
    assert "chattree.errors" in line and "login" in line
    assert "Traceback" not in text
    assert PASSWORD not in text and token not in text
    assert '"GET /graphql HTTP/1.1"' in text


async def test_json_logs_are_one_object_per_line_with_the_request_id(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    text, token, request_id = await failed_login_log(server_env, tmp_path / "server.log", "json")
    entries = [json.loads(line) for line in text.splitlines()]
    assert {"time", "level", "logger", "message", "request_id"} <= set(entries[0])
    # uvicorn's own lines are in the same format.
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)
    [error] = [entry for entry in entries if entry["message"].startswith("UNAUTHENTICATED")]
    assert error["request_id"] == request_id
    assert error["level"] == "INFO" and "exc_info" not in error
    assert PASSWORD not in text and token not in text


async def test_under_plain_uvicorn_client_errors_are_logged_with_their_request_id_too(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    text, token, request_id = await failed_login_log(
        server_env, tmp_path / "uvicorn.log", "text", plain_uvicorn=True
    )
    [line] = [line for line in text.splitlines() if "UNAUTHENTICATED" in line]
    assert f"[request={request_id}]" in line
    assert PASSWORD not in text and token not in text

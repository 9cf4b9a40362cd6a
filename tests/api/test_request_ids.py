"""Every request and websocket operation has an id: in the response and in every log line,
where an expected client error is one line and only an INTERNAL one has a traceback."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest

from chattree.logs import ContextFilter
from tests.fake_model import FakeModelServer
from tests.harness import Api
from tests.ws import OperationFailed, connect

CREATE = """
mutation($content: String!) {
  createConversation(content: $content) { assistantMessage { id } }
}
"""
MESSAGE = "query($id: ID!) { message(id: $id) { id } }"
GENERATED_ID = re.compile(r"[0-9a-f]{16}")


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything the server logs at INFO and above, stamped as the server's handler does."""
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.INFO):
        yield caplog


async def post(
    api: Api, query: str, variables: dict[str, Any], *, headers: dict[str, str]
) -> tuple[str, dict[str, Any]]:
    async with api.http.post(
        f"{api.url}/graphql", json={"query": query, "variables": variables}, headers=headers
    ) as response:
        body: dict[str, Any] = await response.json()
        return response.headers["X-Request-ID"], body


def error_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "chattree.errors"]


async def test_every_response_carries_a_fresh_request_id(api: Api) -> None:
    seen = set()
    for path in ("/graphql?query={__typename}", "/healthz", "/readyz", "/nowhere"):
        async with api.http.get(f"{api.url}{path}") as response:
            request_id = response.headers["X-Request-ID"]
            assert GENERATED_ID.fullmatch(request_id), request_id
            seen.add(request_id)
    assert len(seen) == 4


async def test_a_refused_body_still_carries_a_request_id(api: Api) -> None:
    async with api.http.post(
        f"{api.url}/graphql",
        data=b"x" * (7 * api.services.settings.max_message_length + 64 * 1024),
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 413
        assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


async def test_a_sane_incoming_request_id_is_kept(api: Api) -> None:
    incoming = "edge-7f3a.b2:c9"
    request_id, _ = await post(api, "{ __typename }", {}, headers={"X-Request-ID": incoming})
    assert request_id == incoming


@pytest.mark.parametrize(
    "incoming",
    ["", "x" * 129, "two words", 'quote"d', "new\\nline", "é"],
)
async def test_an_unusable_incoming_request_id_is_replaced(api: Api, incoming: str) -> None:
    request_id, _ = await post(api, "{ __typename }", {}, headers={"X-Request-ID": incoming})
    assert GENERATED_ID.fullmatch(request_id)


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        pytest.param(
            "mutation($id: ID!) { deleteConversation(id: $id) }",
            {"id": ""},
            "NOT_FOUND",
            id="empty id",
        ),
        pytest.param(
            "mutation($id: ID!) { deleteConversation(id: $id) }",
            {"id": "1\n2026-12-01 00:00:00 ERROR chattree forged line" + "x" * 5000},
            "NOT_FOUND",
            id="id with a line break",
        ),
        pytest.param(
            'mutation($u: String!) { register(username: $u, password: "correct horse") { token } }',
            {"u": ""},
            "BAD_USER_INPUT",
            id="empty username",
        ),
        pytest.param("{ me { id } }", {}, "UNAUTHENTICATED", id="no token"),
        pytest.param("{ me { id ", {}, "GRAPHQL_PARSE_FAILED", id="syntax"),
        pytest.param("{ me { secret } }", {}, "GRAPHQL_VALIDATION_FAILED", id="unknown field"),
        pytest.param(MESSAGE, {"id": None}, "BAD_USER_INPUT", id="variable coercion"),
    ],
)
async def test_an_expected_error_is_logged_in_one_line_with_its_code_and_request_id(
    api: Api,
    alice: str,
    logged: pytest.LogCaptureFixture,
    query: str,
    variables: dict[str, Any],
    code: str,
) -> None:
    headers = {} if code == "UNAUTHENTICATED" else {"Authorization": f"Bearer {alice}"}
    request_id, body = await post(api, query, variables, headers=headers)
    assert body["errors"][0]["extensions"]["code"] == code
    [record] = error_records(logged)
    assert record.levelno == logging.INFO
    assert record.request_id == request_id
    assert record.getMessage().startswith(f"{code} at ")
    assert "\n" not in record.getMessage() and len(record.getMessage()) < 400
    assert record.exc_info is None
    assert "Traceback" not in logged.text
    # Strawberry's own logger would repeat the error with a traceback.
    assert not [r for r in logged.records if r.name.startswith("strawberry")]


async def test_an_internal_error_has_its_traceback_and_the_request_id_the_client_sees(
    api: Api, alice: str, logged: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(**_: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(api.services.conversations, "page", broken)
    request_id, body = await post(
        api,
        "{ conversations { edges { cursor } } }",
        {},
        headers={"Authorization": f"Bearer {alice}", "X-Request-ID": "support-ticket-42"},
    )
    assert request_id == "support-ticket-42"
    assert body["errors"][0]["extensions"] == {"code": "INTERNAL", "requestId": request_id}
    [record] = error_records(logged)
    assert record.levelno == logging.ERROR
    assert record.request_id == request_id
    assert record.exc_info is not None
    assert "disk on fire" in logged.text


async def test_each_websocket_operation_logs_under_an_id_of_its_own(
    api: Api, alice: str, logged: pytest.LogCaptureFixture
) -> None:
    subscription = "subscription($id: ID!) { messageStream(messageId: $id) { done } }"
    async with connect(api.ws_url, token=alice) as client:
        connection_id = client.ws.response.headers["X-Request-ID"]
        assert GENERATED_ID.fullmatch(connection_id)
        for _ in range(2):
            operation = await client.subscribe(subscription, {"id": "999999"})
            with pytest.raises(OperationFailed) as failed:
                await operation.collect()
            assert failed.value.code == "NOT_FOUND"
    records = error_records(logged)
    assert [record.getMessage().split(" ")[0] for record in records] == ["NOT_FOUND"] * 2
    assert [record.request_id for record in records] == [
        f"{connection_id}.1",
        f"{connection_id}.2",
    ]


async def test_the_lines_of_a_reply_carry_its_message_id_and_the_prompts_request_id(
    api: Api, alice: str, logged: pytest.LogCaptureFixture
) -> None:
    request_id, body = await post(
        api, CREATE, {"content": "Hello"}, headers={"Authorization": f"Bearer {alice}"}
    )
    message_id = int(body["data"]["createConversation"]["assistantMessage"]["id"])
    await api.services.generations.wait(message_id)
    [ended] = [r for r in logged.records if r.getMessage().startswith(f"reply {message_id} ended")]
    assert "COMPLETE" in ended.getMessage()
    assert ended.message_id == message_id
    assert ended.request_id == request_id


async def test_an_upstream_error_is_one_warning_line(
    api: Api, alice: str, fake_model: FakeModelServer, logged: pytest.LogCaptureFixture
) -> None:
    fake_model.models_status = 503
    request_id, body = await post(
        api, "{ models { id } }", {}, headers={"Authorization": f"Bearer {alice}"}
    )
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_ERROR"
    [record] = error_records(logged)
    assert record.levelno == logging.WARNING
    assert record.getMessage().startswith("UPSTREAM_ERROR at models: ")
    assert (record.request_id, record.exc_info) == (request_id, None)

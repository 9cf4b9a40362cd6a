"""Replies the model server fails: they end FAILED with their partial text and a clear
`error`, subscribers get a done event, and the user's message stays."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from chattree.errors import StorageUnavailable
from chattree.services.generation import rows
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.ws import (
    assert_well_formed,
    connect,
    content_of,
    final_message,
    message,
    start_reply,
    stream_events,
    subscribe_stream,
    until,
)

API_KEY = "sk-test-0123456789"
# Apart, so each error names the timeout that fired.
FIRST_TOKEN_TIMEOUT = "3"
IDLE_TIMEOUT = "4"


@pytest.fixture
def server_env(server_env: dict[str, str], fake_model: FakeModelServer) -> dict[str, str]:
    # Every request of this module must carry the key, or the fake model answers 401.
    fake_model.api_key = API_KEY
    return {
        **server_env,
        "MODEL_API_KEY": API_KEY,
        "MODEL_FIRST_TOKEN_TIMEOUT": FIRST_TOKEN_TIMEOUT,
        "MODEL_IDLE_TIMEOUT": IDLE_TIMEOUT,
    }


TEXT = "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Failure:
    reply: Reply
    partial: str
    error: tuple[str, ...]  # words the error message must contain
    upstream_closed: bool = False  # the server had to close a request left hanging
    # Chat requests sent: a stream that failed after its first token is never retried.
    # None for 5xx answers, retried as long as the first-token limit allows.
    requests: int | None = 1


FAILURES = {
    "http-500": Failure(
        Reply(status=500, error_message="model exploded"),
        "",
        ("500", "model exploded"),
        requests=None,
    ),
    "http-503": Failure(
        Reply(status=503, error_message="overloaded"), "", ("503", "overloaded"), requests=None
    ),
    "cut": Failure(
        Reply(content=TEXT, chunk_size=3, cut_after=3), TEXT[:9], ("closed the stream",)
    ),
    "malformed": Failure(
        Reply(content=TEXT, chunk_size=3, malformed_after=3), TEXT[:9], ("malformed",)
    ),
    "error-chunk": Failure(
        Reply(
            content=TEXT,
            chunk_size=3,
            error_chunk_after=3,
            error_message="rate limit hit",
        ),
        TEXT[:9],
        ("rate limit hit",),
    ),
    "stall": Failure(
        Reply(content=TEXT, chunk_size=3, stall_after=3),
        TEXT[:9],
        ("stalled", f"{IDLE_TIMEOUT} s"),
        True,
    ),
    "first-token": Failure(
        Reply(content=TEXT, stall_after=0), "", ("no token", f"{FIRST_TOKEN_TIMEOUT} s"), True
    ),
}


@pytest.mark.parametrize("case", FAILURES)
async def test_a_failing_model_server_ends_the_reply_failed_with_its_partial_text(
    api: Api, alice: str, fake_model: FakeModelServer, case: str
) -> None:
    failure = FAILURES[case]
    fake_model.replies["Go"] = failure.reply
    user_id, reply_id = await start_reply(api, alice, "Go")
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    stored = await message(api, alice, reply_id)
    assert stored["status"] == "FAILED"
    assert stored["content"] == failure.partial
    error = stored["error"]
    assert error and all(word in error for word in failure.error), error
    assert "Traceback" not in error and "aiohttp" not in error
    assert_well_formed(events, "FAILED")
    assert events[-1]["error"] == error
    assert content_of(events) == failure.partial
    user = await message(api, alice, user_id)
    assert (user["role"], user["content"], user["status"]) == ("USER", "Go", "COMPLETE")
    if failure.upstream_closed:
        await until(lambda: fake_model.disconnects == 1 and fake_model.active_streams == 0)
    if failure.requests is not None:
        assert len(fake_model.chat_requests) == failure.requests


async def test_subscribing_to_a_failed_reply_yields_one_done_event_with_the_error(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Go"] = Reply(content=TEXT, chunk_size=3, cut_after=2)
    _, reply_id = await start_reply(api, alice, "Go")
    stored = await final_message(api, alice, reply_id)
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    assert events == [
        {
            "messageId": reply_id,
            "delta": TEXT[:6],
            "reasoningDelta": "",
            "status": "FAILED",
            "done": True,
            "error": stored["error"],
        }
    ]


async def test_a_failed_reply_is_returned_by_a_waiting_mutation_not_raised(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Go"] = Reply(status=500, error_message="model exploded")
    data = await api.ok(
        'mutation { createConversation(content: "Go", wait: true) { '
        "conversation { messageCount } userMessage { content status } "
        "assistantMessage { content status error } } }",
        token=alice,
    )
    payload = data["createConversation"]
    assert payload["conversation"]["messageCount"] == 3
    assert payload["userMessage"] == {"content": "Go", "status": "COMPLETE"}
    assert payload["assistantMessage"]["status"] == "FAILED"
    assert payload["assistantMessage"]["content"] == ""
    assert "model exploded" in payload["assistantMessage"]["error"]


async def test_the_model_api_key_is_sent_upstream(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    _, reply_id = await start_reply(api, alice, "Key")
    stored = await final_message(api, alice, reply_id)
    assert (stored["status"], stored["content"]) == ("COMPLETE", "Echo: Key")
    assert len(fake_model.chat_requests) == 1


async def test_a_rejected_api_key_fails_the_reply_with_the_model_servers_message(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.api_key = "sk-another-key"
    _, reply_id = await start_reply(api, alice, "Key")
    stored = await final_message(api, alice, reply_id)
    assert stored["status"] == "FAILED"
    assert "401" in stored["error"] and "API key" in stored["error"]
    assert API_KEY not in stored["error"]


async def test_a_reply_whose_end_cannot_be_stored_is_swept_and_its_subscribers_end(
    api: Api, alice: str, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    generations = api.services.generations

    async def database_gone(*_: object) -> bool:
        raise OSError("database unreachable")

    monkeypatch.setattr(generations, "_store_end", database_gone)
    fake_model.replies["Go"] = Reply(content=TEXT, delay=0.02, chunk_size=3)
    _, reply_id = await start_reply(api, alice, "Go")
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, reply_id)
        # The reply is let go (no heartbeat keeps its row alive), and the sweep ends
        # the row after STALE_AFTER with the text of its last flush.
        await until(lambda: int(reply_id) not in generations.replies)
        events = await stream_events(operation, timeout=20)
    assert events[-1]["done"] and events[-1]["status"] == "INTERRUPTED"
    stored = await message(api, alice, reply_id)
    assert stored["status"] == "INTERRUPTED"
    assert content_of(events).startswith(stored["content"])


async def test_a_context_size_that_cannot_be_stored_leaves_the_reply_complete(
    api: Api, alice: str, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The count only informs; the database failing to take it must not fail the reply.
    async def unavailable(*_: object) -> None:
        raise StorageUnavailable("the database is unreachable")

    monkeypatch.setattr(rows, "store_context_size", unavailable)
    fake_model.replies["Go"] = Reply(content=TEXT, chunk_size=3)
    _, reply_id = await start_reply(api, alice, "Go")
    stored = await final_message(api, alice, reply_id)
    assert (stored["status"], stored["content"], stored["error"]) == ("COMPLETE", TEXT, None)

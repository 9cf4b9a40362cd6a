"""Fault drills against the model server, through the whole server: refused
connections, 429 and 5xx answers (asked again before the first token), and a reply that
never ends (stopped by MODEL_MAX_REPLY_SECONDS). Each ends with a clear status and
`error`, and the user's message is kept. Cut, malformed and stalled streams are drilled
in test_generation_failures.py."""

from __future__ import annotations

import pytest

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

MAX_REPLY = "1"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # Only the total limit can end a reply that keeps streaming: the other limits are
    # far away, so how busy the machine is cannot pick a different ending.
    return {
        **server_env,
        "MODEL_MAX_REPLY_SECONDS": MAX_REPLY,
        "MODEL_FIRST_TOKEN_TIMEOUT": "60",
        "MODEL_IDLE_TIMEOUT": "60",
    }


async def assert_user_message_kept(api: Api, token: str, user_id: str) -> None:
    user = await message(api, token, user_id)
    assert (user["role"], user["content"], user["status"]) == ("USER", "Go", "COMPLETE")


async def test_a_model_server_that_refuses_connections_fails_the_reply_clearly(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    await fake_model.stop()  # its port now refuses connections
    user_id, reply_id = await start_reply(api, alice, "Go")
    stored = await final_message(api, alice, reply_id)
    assert stored["status"] == "FAILED"
    assert stored["content"] == ""
    assert stored["error"] == (
        f"cannot reach the model server at {fake_model.base_url}: connection refused"
    )
    await assert_user_message_kept(api, alice, user_id)


@pytest.mark.parametrize(
    ("status", "times", "retry_after"),
    [(429, 2, "0"), (503, 1, None)],
    ids=["429-retry-after", "503-backoff"],
)
async def test_a_busy_model_server_is_asked_again_and_the_reply_completes(
    api: Api,
    alice: str,
    fake_model: FakeModelServer,
    status: int,
    times: int,
    retry_after: str | None,
) -> None:
    fake_model.replies["Go"] = Reply(
        content="Made it.", status=status, status_times=times, retry_after=retry_after
    )
    user_id, reply_id = await start_reply(api, alice, "Go")
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    assert_well_formed(events, "COMPLETE")
    stored = await final_message(api, alice, reply_id)
    assert (stored["status"], stored["content"], stored["error"]) == ("COMPLETE", "Made it.", None)
    assert content_of(events) == "Made it."
    assert len(fake_model.chat_requests) == 1 + times
    await assert_user_message_kept(api, alice, user_id)


async def test_a_model_server_that_stays_busy_fails_the_reply_after_the_last_attempt(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Go"] = Reply(status=429, retry_after="0", error_message="quota exceeded")
    user_id, reply_id = await start_reply(api, alice, "Go")
    stored = await final_message(api, alice, reply_id)
    assert stored["status"] == "FAILED"
    assert stored["error"] == (
        "model server answered HTTP 429: quota exceeded (gave up after 4 attempts)"
    )
    assert len(fake_model.chat_requests) == 4
    await assert_user_message_kept(api, alice, user_id)


async def test_a_reply_that_never_ends_is_stopped_failed_with_its_partial_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Go"] = Reply(content="more ", endless=True, delay=0.01)
    user_id, reply_id = await start_reply(api, alice, "Go")
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id), timeout=30)
    assert_well_formed(events, "FAILED")
    stored = await final_message(api, alice, reply_id)
    assert stored["status"] == "FAILED"
    assert stored["error"] == (
        f"the reply took longer than {MAX_REPLY} s (MODEL_MAX_REPLY_SECONDS) and was stopped"
    )
    assert events[-1]["error"] == stored["error"]
    # Whatever had arrived is kept, and subscribers saw exactly that.
    assert content_of(events) == stored["content"]
    assert ("more " * (len(stored["content"]) // 5 + 1)).startswith(stored["content"])
    await until(lambda: fake_model.disconnects == 1 and fake_model.active_streams == 0)
    await assert_user_message_kept(api, alice, user_id)

"""cancelGeneration: stops a STREAMING reply, keeps its text, tells every subscriber,
and closes the request to the model server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api
from tests.ws import (
    LEGACY_WS,
    TRANSPORT_WS,
    OperationFailed,
    assert_well_formed,
    connect,
    content_of,
    final_message,
    message,
    next_event,
    published,
    reasoning_of,
    start_reply,
    stream_events,
    subscribe_stream,
    until,
)

CANCEL = """
mutation($id: ID!) { cancelGeneration(messageId: $id) { id status content reasoning error } }
"""

LONG = " ".join(f"word{i}" for i in range(100))


async def cancel(api: Api, token: str, message_id: str) -> dict[str, Any]:
    data = await api.ok(CANCEL, {"id": message_id}, token=token)
    row: dict[str, Any] = data["cancelGeneration"]
    return row


async def assert_unchanged_after_cancel(
    api: Api, token: str, cancelled: dict[str, Any], fake: FakeModelServer
) -> None:
    """Nothing reaches the row after cancelGeneration returned, and the upstream request
    was closed."""
    for _ in range(2):
        # A fixed wait is the point here: past a flush (FLUSH_INTERVAL is 0.2 s in tests)
        # and past any token still in flight, the row must not have moved.
        await asyncio.sleep(0.2)
        row = await message(api, token, cancelled["id"])
        assert row["status"] == "CANCELLED"
        assert row["content"] == cancelled["content"]
        assert row["reasoning"] == cancelled["reasoning"]
    await until(lambda: fake.disconnects == 1)
    assert fake.active_streams == 0
    assert len(fake.chat_requests) == 1


async def test_cancelling_keeps_the_partial_text_and_ends_every_subscription(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Stop me"] = Reply(content=LONG, chunk_size=10, gate=Gate(10))
    _, reply_id = await start_reply(api, alice, "Stop me")
    async with (
        connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as first,
        connect(api.ws_url, token=alice, protocol=LEGACY_WS) as second,
    ):
        operations = [
            await subscribe_stream(first, reply_id),
            await subscribe_stream(first, reply_id),
            await subscribe_stream(second, reply_id),
        ]
        heads = [await next_event(operation) for operation in operations]
        await until(lambda: published(api, reply_id) >= 100)
        cancelled = await cancel(api, alice, reply_id)
        streams = [
            [head, *await stream_events(operation)]
            for head, operation in zip(heads, operations, strict=True)
        ]
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["error"] is None
    assert len(cancelled["content"]) >= 100
    assert len(cancelled["content"]) < len(LONG)
    assert LONG.startswith(cancelled["content"])
    for events in streams:
        assert_well_formed(events, "CANCELLED")
        assert content_of(events) == cancelled["content"]
    await assert_unchanged_after_cancel(api, alice, cancelled, fake_model)


async def test_cancelling_a_reply_nobody_follows_stops_it(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Quiet"] = Reply(content=LONG, chunk_size=10, gate=Gate(5))
    _, reply_id = await start_reply(api, alice, "Quiet")
    await until(lambda: published(api, reply_id) >= 50)
    cancelled = await cancel(api, alice, reply_id)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["content"] and LONG.startswith(cancelled["content"])
    await assert_unchanged_after_cancel(api, alice, cancelled, fake_model)
    # A subscriber that comes afterwards gets the final state in one event.
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    assert len(events) == 1
    assert_well_formed(events, "CANCELLED")
    assert content_of(events) == cancelled["content"]


async def test_cancelling_during_reasoning_keeps_the_partial_reasoning(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    reasoning = "Hmm, let me see. " * 20
    fake_model.replies["Ponder"] = Reply(
        content="Done.", reasoning=reasoning, chunk_size=5, gate=Gate(6)
    )
    _, reply_id = await start_reply(api, alice, "Ponder")
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, reply_id)
        await until(lambda: published(api, reply_id) >= 30)
        cancelled = await cancel(api, alice, reply_id)
        events = await stream_events(operation)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["content"] == ""
    assert cancelled["reasoning"] and reasoning.startswith(cancelled["reasoning"])
    assert_well_formed(events, "CANCELLED")
    assert reasoning_of(events) == cancelled["reasoning"]
    await assert_unchanged_after_cancel(api, alice, cancelled, fake_model)


async def test_cancelling_before_the_first_token_ends_with_no_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Silent"] = Reply(content="never sent", stall_after=0)
    _, reply_id = await start_reply(api, alice, "Silent")
    await fake_model.wait_for_stream()
    cancelled = await cancel(api, alice, reply_id)
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["content"] == ""
    await assert_unchanged_after_cancel(api, alice, cancelled, fake_model)


async def test_a_request_waiting_for_the_reply_returns_it_cancelled(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Wait for it"] = Reply(content=LONG, chunk_size=10, gate=Gate(3))
    waiting = asyncio.create_task(
        api.ok(
            'mutation { createConversation(content: "Wait for it", wait: true) '
            "{ assistantMessage { id status content } } }",
            token=alice,
        )
    )
    await fake_model.wait_for_stream()
    (row_id,) = api.services.generations.replies
    await until(lambda: published(api, str(row_id)) >= 30)
    cancelled = await cancel(api, alice, str(row_id))
    returned = (await waiting)["createConversation"]["assistantMessage"]
    assert returned == {
        "id": str(row_id),
        "status": "CANCELLED",
        "content": cancelled["content"],
    }


async def test_cancelling_a_final_message_is_bad_user_input(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Broken"] = Reply(status=500)
    fake_model.replies["Slow"] = Reply(content=LONG, gate=Gate())
    user_id, complete_id = await start_reply(api, alice, "Fine")
    _, failed_id = await start_reply(api, alice, "Broken")
    _, cancelled_id = await start_reply(api, alice, "Slow")
    await cancel(api, alice, cancelled_id)
    for target in (complete_id, user_id, failed_id, cancelled_id):
        before = await final_message(api, alice, target)
        error = await api.fails(CANCEL, {"id": target}, token=alice)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", before
        assert error["extensions"]["argument"] == "messageId"
        assert await message(api, alice, target) == before


async def test_cancelling_another_users_reply_is_not_found_and_leaves_it_running(
    api: Api, alice: str, bob: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Bob's"] = Reply(content=LONG[:200], delay=0.01, chunk_size=5)
    _, reply_id = await start_reply(api, bob, "Bob's")
    error = await api.fails(CANCEL, {"id": reply_id}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert "Bob" not in error["message"]
    stored = await final_message(api, bob, reply_id)
    assert stored["status"] == "COMPLETE"
    assert stored["content"] == LONG[:200]
    assert fake_model.disconnects == 0


async def test_cancelling_a_message_that_does_not_exist_is_not_found(api: Api, alice: str) -> None:
    for message_id in ("999999", "abc", "0", ""):
        error = await api.fails(CANCEL, {"id": message_id}, token=alice)
        assert error["extensions"]["code"] == "NOT_FOUND", message_id


async def test_cancelling_needs_a_signed_in_user(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Mine"] = Reply(content=LONG[:200], delay=0.01, chunk_size=5)
    _, reply_id = await start_reply(api, alice, "Mine")
    error = await api.fails(CANCEL, {"id": reply_id})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await final_message(api, alice, reply_id))["status"] == "COMPLETE"


async def test_deleting_the_conversation_stops_its_reply_and_ends_its_streams(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Doomed"] = Reply(content=LONG, gate=Gate())
    data = await api.ok(
        'mutation { createConversation(content: "Doomed") '
        "{ conversation { id } assistantMessage { id } } }",
        token=alice,
    )
    conversation_id = data["createConversation"]["conversation"]["id"]
    reply_id = data["createConversation"]["assistantMessage"]["id"]
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, reply_id)
        await next_event(operation)
        await api.ok(
            "mutation($id: ID!) { deleteConversation(id: $id) }",
            {"id": conversation_id},
            token=alice,
        )
        # The message is gone: its stream ends as for any id that does not exist.
        with pytest.raises(OperationFailed) as failed:
            await stream_events(operation)
        assert failed.value.code == "NOT_FOUND"
    await until(lambda: fake_model.disconnects == 1 and fake_model.active_streams == 0)
    assert not api.services.generations.replies
    assert api.services.broker.subscriber_count(int(reply_id)) == 0


async def test_a_reply_whose_row_was_ended_elsewhere_stops_asking_the_model(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    from sqlalchemy import update

    from chattree.db.models import Message, Status

    fake_model.replies["Go"] = Reply(content="word " * 400, chunk_size=5, gate=Gate(1))
    _, reply_id = await start_reply(api, alice, "Go")
    await until(lambda: published(api, reply_id) > 0)
    # What a cancel on another process does when this one does not answer in time.
    async with api.services.db.transaction() as session:
        await session.execute(
            update(Message).where(Message.id == int(reply_id)).values(status=Status.CANCELLED)
        )
    await until(lambda: fake_model.disconnects == 1 and fake_model.active_streams == 0)
    await until(lambda: int(reply_id) not in api.services.generations.replies)
    assert (await message(api, alice, reply_id))["status"] == "CANCELLED"

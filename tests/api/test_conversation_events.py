"""conversationEvents: every change to the caller's conversations, in order, replayed
after a cursor then live, on every subscription transport; old, foreign and malformed
cursors are BAD_USER_INPUT."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from chattree.db import counters
from chattree.db.events import last_event_id, record_event
from chattree.db.models import EventKind, EventRow
from chattree.services.events import follow_events
from chattree.settings import Settings
from tests import ws
from tests.events import EVENTS, following, kinds, last_cursor
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api, running_server
from tests.http_streams import multipart_results, sse_results
from tests.portability import chatgpt_export as gpt
from tests.portability.client import upload
from tests.processes import wait_until

CREATE = """
mutation($c: String!) {
  createConversation(content: $c, title: "Sync", wait: true) {
    conversation { id }
    userMessage { id }
    assistantMessage { id }
  }
}
"""
PROMPT = """
mutation($p: ID!, $c: String!) {
  prompt(parentId: $p, content: $c, wait: true) { userMessage { id } assistantMessage { id } }
}
"""
UPDATE = """
mutation($id: ID!, $t: String, $a: Boolean, $p: Boolean) {
  updateConversation(id: $id, title: $t, archived: $a, pinned: $p) { id title archived pinned }
}
"""
SELECT = "mutation($id: ID!) { selectBranch(messageId: $id) { id } }"
DELETE_MESSAGE = "mutation($id: ID!) { deleteMessage(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"
FORK = "mutation($id: ID!) { forkConversation(messageId: $id) { id } }"
ROOT = "query($id: ID!) { conversation(id: $id) { root { id } } }"


async def create(api: Api, token: str, content: str = "Hello") -> dict[str, str]:
    data = (await api.ok(CREATE, {"c": content}, token=token))["createConversation"]
    return {
        "conversation": data["conversation"]["id"],
        "user": data["userMessage"]["id"],
        "reply": data["assistantMessage"]["id"],
    }


def created(ids: dict[str, str]) -> list[tuple[str, str | None]]:
    """The events of a createConversation that waited for its reply."""
    return [
        ("CONVERSATION_CREATED", None),
        ("MESSAGE_CREATED", ids["user"]),
        ("MESSAGE_CREATED", ids["reply"]),
        ("MESSAGE_UPDATED", ids["reply"]),
    ]


async def test_every_change_is_an_event_in_order(api: Api, alice: str, db_url: str) -> None:
    first = await create(api, alice, "first")
    cursor = await last_cursor(api, db_url, alice)
    async with following(api.ws_url, alice, cursor) as live:
        second = await create(api, alice, "second")
        assert kinds(await live.take(4)) == created(second)

        conversation = second["conversation"]
        turn = (await api.ok(PROMPT, {"p": second["reply"], "c": "more"}, token=alice))["prompt"]
        user, reply = turn["userMessage"]["id"], turn["assistantMessage"]["id"]
        events = await live.take(4)
        assert kinds(events) == [
            ("MESSAGE_CREATED", user),
            ("MESSAGE_CREATED", reply),
            ("CONVERSATION_UPDATED", None),
            ("MESSAGE_UPDATED", reply),
        ]
        assert events[-1]["message"]["status"] == "COMPLETE"
        assert events[-1]["conversation"]["currentMessageId"] == reply

        await api.ok(SELECT, {"id": second["user"]}, token=alice)
        (selected,) = await live.take(1)
        assert selected["kind"] == "CONVERSATION_UPDATED"
        # The newest message below the one selected: the reply just made.
        assert selected["conversation"]["currentMessageId"] == reply

        await api.ok(UPDATE, {"id": conversation, "a": True, "p": True, "t": "Kept"}, token=alice)
        (updated,) = await live.take(1)
        assert updated["kind"] == "CONVERSATION_UPDATED"
        assert updated["conversation"] == {
            "id": conversation,
            "title": "Kept",
            "archived": True,
            "pinned": True,
            "currentMessageId": reply,
        }

        await api.ok(DELETE_MESSAGE, {"id": user}, token=alice)
        deleted, moved = await live.take(2)
        assert kinds([deleted, moved]) == [
            ("MESSAGE_DELETED", user),
            ("CONVERSATION_UPDATED", None),
        ]
        assert deleted["message"] is None
        # The current message was in the deleted subtree: it moved up to what is left.
        assert moved["conversation"]["currentMessageId"] == second["reply"]

        fork = (await api.ok(FORK, {"id": first["reply"]}, token=alice))["forkConversation"]
        (forked,) = await live.take(1)
        assert (forked["kind"], forked["conversationId"]) == ("CONVERSATION_CREATED", fork["id"])

        await upload(api, alice, gpt.conversations_json(), "conversations.json")
        imported = await live.take(2)
        assert [event["kind"] for event in imported] == ["CONVERSATION_CREATED"] * 2

        await api.ok(DELETE, {"id": conversation}, token=alice)
        (gone,) = await live.take(1)
        assert (gone["kind"], gone["conversationId"]) == ("CONVERSATION_DELETED", conversation)
        assert gone["conversation"] is None

    cursors = [event["cursor"] for event in [*events, selected, updated, deleted, moved, gone]]
    assert len(set(cursors)) == len(cursors)


async def test_a_device_that_resumes_gets_exactly_what_it_missed(
    api: Api, alice: str, db_url: str
) -> None:
    await create(api, alice, "zero")
    start = await last_cursor(api, db_url, alice)
    async with following(api.ws_url, alice, start) as live:
        one = await create(api, alice, "one")
        seen = await live.take(4)
    assert kinds(seen) == created(one)
    # Offline: two more conversations are made elsewhere.
    two = await create(api, alice, "two")
    three = await create(api, alice, "three")
    async with following(api.ws_url, alice, seen[-1]["cursor"]) as resumed:
        assert kinds(await resumed.take(8)) == created(two) + created(three)
        four = await create(api, alice, "four")
        assert kinds(await resumed.take(4)) == created(four)


async def test_without_a_cursor_the_events_start_now(api: Api, alice: str) -> None:
    await create(api, alice, "before")
    ids = await create(api, alice, "target")
    async with following(api.ws_url, alice, None) as live:
        # The subscription starts at some moment: pin until an event shows it has.
        async def pin() -> dict[str, Any]:
            while True:
                await api.ok(UPDATE, {"id": ids["conversation"], "p": True}, token=alice)
                await api.ok(UPDATE, {"id": ids["conversation"], "p": False}, token=alice)
                await asyncio.sleep(0.05)

        pinning = asyncio.create_task(pin())
        try:
            first = await live.next()
        finally:
            pinning.cancel()
        assert first["kind"] == "CONVERSATION_UPDATED"
        assert first["conversationId"] == ids["conversation"]


async def test_other_users_events_never_arrive(api: Api, alice: str, bob: str, db_url: str) -> None:
    await create(api, bob, "bob's first")
    cursor = await last_cursor(api, db_url, bob)
    async with following(api.ws_url, bob, cursor) as bobs:
        await create(api, alice, "alice's secret")
        mine = await create(api, bob, "bob's second")
        events = await bobs.take(4)
    assert kinds(events) == created(mine)
    assert "secret" not in str(events)


@pytest.mark.parametrize(
    "after", ["", "garbage", "ZXZlbnQ6MA==", "ZXZlbnQ6OTk5OTk5OQ==", "x" * 500]
)
async def test_a_cursor_this_server_did_not_issue_is_bad_input(
    api: Api, alice: str, after: str
) -> None:
    async with following(api.ws_url, alice, after) as live:
        with pytest.raises(ws.OperationFailed) as failed:
            await live.next()
    assert failed.value.code == "BAD_USER_INPUT"


async def test_another_users_cursor_is_bad_input(
    api: Api, alice: str, bob: str, db_url: str
) -> None:
    await create(api, bob, "bob's")
    bobs = await last_cursor(api, db_url, bob)
    async with following(api.ws_url, alice, bobs) as live:
        with pytest.raises(ws.OperationFailed) as failed:
            await live.next()
    assert failed.value.code == "BAD_USER_INPUT"
    assert "bob" not in str(failed.value.errors)


@pytest.mark.parametrize("token", [None, "not-a-jwt"])
async def test_events_need_a_login(api: Api, token: str | None) -> None:
    stream = multipart_results(api, EVENTS, {"after": None}, token=token)
    payload = await anext(stream)
    await stream.aclose()
    assert payload["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_cursor_older_than_the_retention_is_bad_input(
    server_env: dict[str, str], db_url: str
) -> None:
    settings = Settings.from_env(server_env | {"EVENT_RETENTION": "0.5"})
    async with running_server(settings) as api:
        alice = await api.register("alice")
        await create(api, alice, "soon forgotten")
        cursor = await last_cursor(api, db_url, alice)

        async def pruned() -> bool:
            async with api.services.db.reader() as session:
                return await session.scalar(select(EventRow.id).limit(1)) is None

        await wait_until(pruned, what="the pruner to delete the event")
        async with following(api.ws_url, alice, cursor) as live:
            with pytest.raises(ws.OperationFailed) as failed:
                await live.next()
        assert failed.value.code == "BAD_USER_INPUT"
        assert "EVENT_RETENTION" in failed.value.errors[0]["message"]


async def test_a_subscriber_that_falls_behind_still_gets_every_event_once(
    api: Api, alice: str
) -> None:
    """More events than a feed holds arrive while the subscriber reads none: the feed
    collapses them into one "read the table", and the writers never wait."""
    ids = await create(api, alice, "busy")
    conversation = int(ids["conversation"])
    me = await api.ok("{ me { id } }", token=alice)
    user_id = int(me["me"]["id"])
    services = api.services
    async with services.db.reader() as session:
        start = await last_event_id(session, user_id=user_id)
    stream = follow_events(services.db, services.broker, user_id=user_id, after=start)
    first = asyncio.ensure_future(anext(stream))
    async with services.db.transaction() as session:
        await counters.lock_user(session, user_id=user_id)
        await record_event(session, user_id, EventKind.CONVERSATION_UPDATED, conversation)
    head = await first
    # The subscriber now reads nothing while 300 more are written.
    for _ in range(300):
        async with services.db.transaction() as session:
            await counters.lock_user(session, user_id=user_id)
            await record_event(session, user_id, EventKind.CONVERSATION_UPDATED, conversation)
    async with services.db.reader() as session:
        written = list(
            await session.scalars(
                select(EventRow.id)
                .where(EventRow.user_id == user_id, EventRow.id > head.id)
                .order_by(EventRow.id)
            )
        )
    read = [(await anext(stream)).id for _ in written]
    await stream.aclose()
    assert len(written) == 300
    assert read == written


@pytest.mark.parametrize("protocol", ws.PROTOCOLS)
async def test_both_websocket_protocols_carry_events(
    api: Api, alice: str, db_url: str, protocol: str
) -> None:
    await create(api, alice, "start")
    cursor = await last_cursor(api, db_url, alice)
    async with following(api.ws_url, alice, cursor, protocol=protocol) as live:
        ids = await create(api, alice, "over " + protocol)
        assert kinds(await live.take(4)) == created(ids)


@pytest.mark.parametrize("transport", ["multipart", "sse"])
async def test_http_subscription_transports_carry_events(
    api: Api, alice: str, db_url: str, transport: str
) -> None:
    await create(api, alice, "start")
    cursor = await last_cursor(api, db_url, alice)
    ids = await create(api, alice, "over " + transport)
    results = multipart_results if transport == "multipart" else sse_results
    events: list[dict[str, Any]] = []
    stream = results(api, EVENTS, {"after": cursor}, token=alice)
    async for payload in stream:
        assert not payload.get("errors"), payload
        events.append(payload["data"]["conversationEvents"])
        if len(events) == 4:
            break
    await stream.aclose()
    assert kinds(events) == created(ids)


async def test_a_cancelled_reply_and_a_model_written_title_are_events(
    api: Api, alice: str, db_url: str, fake_model: FakeModelServer
) -> None:
    await create(api, alice, "start")
    cursor = await last_cursor(api, db_url, alice)
    fake_model.replies["Go on"] = Reply(content="word ", delay=0.05, endless=True)
    async with following(api.ws_url, alice, cursor) as live:
        data = await api.ok(
            'mutation { createConversation(content: "Go on") '
            "{ conversation { id } assistantMessage { id } } }",
            token=alice,
        )
        reply = data["createConversation"]["assistantMessage"]["id"]
        started = await live.take(3)
        assert [event["kind"] for event in started] == [
            "CONVERSATION_CREATED",
            "MESSAGE_CREATED",
            "MESSAGE_CREATED",
        ]
        assert started[-1]["message"]["status"] == "STREAMING"
        cancel = "mutation($id: ID!) { cancelGeneration(messageId: $id) { status } }"
        await api.ok(cancel, {"id": reply}, token=alice)
        # The title the model writes in the background, and the reply's end, in either order.
        ended = {event["kind"]: event for event in await live.take(2)}
        assert set(ended) == {"MESSAGE_UPDATED", "CONVERSATION_UPDATED"}
        assert ended["MESSAGE_UPDATED"]["messageId"] == reply
        assert ended["MESSAGE_UPDATED"]["message"]["status"] == "CANCELLED"
        assert ended["CONVERSATION_UPDATED"]["conversation"]["title"] == fake_model.title


async def test_ratings_settings_and_continuing_a_reply_are_events(
    api: Api, alice: str, db_url: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Tell"] = Reply(content="Once upon a time", finish_reason="length")
    ids = await create(api, alice, "Tell")
    conversation, reply = ids["conversation"], ids["reply"]
    cursor = await last_cursor(api, db_url, alice)
    async with following(api.ws_url, alice, cursor) as live:
        rate = "mutation($id: ID!) { rateMessage(messageId: $id, rating: 1) { id } }"
        await api.ok(rate, {"id": reply}, token=alice)
        (rated,) = await live.take(1)
        assert kinds([rated]) == [("MESSAGE_UPDATED", reply)]

        settings = """
        mutation($id: ID!) {
          updateConversationSettings(id: $id, settings: {temperature: 0.5}) { id }
        }
        """
        await api.ok(settings, {"id": conversation}, token=alice)
        (changed,) = await live.take(1)
        assert (changed["kind"], changed["conversationId"]) == (
            "CONVERSATION_UPDATED",
            conversation,
        )

        # A refused change is no event: the next one the device sees is the continue's.
        await api.fails(rate.replace("rating: 1", "rating: 5"), {"id": reply}, token=alice)
        fake_model.continuations["Tell"] = Reply(content=", a tree grew.")
        resume = "mutation($id: ID!) { continueGeneration(messageId: $id, wait: true) { id } }"
        await api.ok(resume, {"id": reply}, token=alice)
        events = await live.take(3)
        assert kinds(events) == [
            ("MESSAGE_UPDATED", reply),
            ("CONVERSATION_UPDATED", None),
            ("MESSAGE_UPDATED", reply),
        ]
        assert events[-1]["message"]["status"] == "COMPLETE"
        assert events[-1]["message"]["content"] == "Once upon a time, a tree grew."


async def test_an_event_recorded_before_its_user_is_locked_is_flagged(api: Api, alice: str) -> None:
    # Locking the user after changing one of its rows can deadlock on PostgreSQL against
    # a writer that locked the user first; every writer takes the user's row first.
    ids = await create(api, alice, "order")
    me = await api.ok("{ me { id } }", token=alice)
    user_id = int(me["me"]["id"])
    with pytest.warns(RuntimeWarning, match="did not lock the user first"):
        async with api.services.db.transaction() as session:
            await record_event(
                session, user_id, EventKind.CONVERSATION_UPDATED, int(ids["conversation"])
            )

"""Several `chattree serve` processes on one PostgreSQL database: any of them serves any
subscriber and any cancel, start-up migrations take turns, and `chattree migrate`
repeats safely."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from chattree.db.engine import create_database
from chattree.settings import Settings
from tests.events import following, last_cursor
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.processes import (
    CHATTREE,
    INHERITED,
    Client,
    client,
    serving,
    serving_together,
    stored_message,
    stream,
    wait_until,
)

# Several processes need a broker between them: PostgreSQL only.
on_postgres = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)

STORY = "Once upon a time, a tree of messages grew branches in every direction. " * 3
LONG_STORY = "The reply that never ends goes on and on, token after token. "

CREATE = """
mutation($c: String!) {
  createConversation(content: $c) {
    conversation { id }
    assistantMessage { id status }
  }
}
"""
MESSAGE = "query($id: ID!) { message(id: $id) { content status error } }"
CANCEL = "mutation($id: ID!) { cancelGeneration(messageId: $id) { content status error } }"


async def start_reply(server: Client, token: str, content: str) -> str:
    data = await server.ok(CREATE, {"c": content}, token=token)
    reply = data["createConversation"]["assistantMessage"]
    assert reply["status"] == "STREAMING"
    message_id: str = reply["id"]
    return message_id


@on_postgres
async def test_a_subscriber_on_another_process_receives_every_delta_in_order(
    server_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Tell me a story"] = Reply(content=STORY, delay=0.02)
    async with (
        serving_together(server_env, tmp_path, 2) as (a, b),
        client(a) as on_a,
        client(b) as on_b,
    ):
        alice = await on_a.register("alice")
        message_id = await start_reply(on_a, alice, "Tell me a story")
        async with stream(b, alice, message_id) as live:
            last = await live.until_done("COMPLETE")

        assert last["error"] is None
        # Live: the text came in several events, not as one snapshot at the end.
        assert len([event for event in live.events if event["delta"]]) > 2
        assert live.text == STORY
        stored = (await on_b.ok(MESSAGE, {"id": message_id}, token=alice))["message"]
        assert stored == {"content": STORY, "status": "COMPLETE", "error": None}


@on_postgres
async def test_cancel_sent_to_another_process_stops_the_generation_there(
    server_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Go on forever"] = forever = Reply(
        content=LONG_STORY, delay=0.05, endless=True
    )
    async with (
        serving_together(server_env, tmp_path, 2) as (a, b),
        client(a) as on_a,
        client(b) as on_b,
    ):
        alice = await on_a.register("alice")
        bob = await on_b.register("bob")
        message_id = await start_reply(on_a, alice, "Go on forever")
        async with (
            stream(a, alice, message_id) as on_a_live,
            stream(b, alice, message_id) as on_b_live,
        ):
            await on_b_live.until_text(6)

            # Someone else's message is not found on any process, and keeps going.
            failure = await on_b.post(CANCEL, {"id": message_id}, token=bob)
            assert failure["errors"][0]["extensions"]["code"] == "NOT_FOUND"
            assert fake_model.active_streams == 1

            cancelled = (await on_b.ok(CANCEL, {"id": message_id}, token=alice))["cancelGeneration"]
            assert cancelled["status"] == "CANCELLED"
            assert cancelled["error"] is None
            assert cancelled["content"]
            assert forever.could_have_sent(cancelled["content"])

            for live in (on_a_live, on_b_live):
                await live.until_done("CANCELLED")
                assert live.text == cancelled["content"]

        async def upstream_closed() -> bool:
            return fake_model.disconnects == 1

        await wait_until(upstream_closed, what="process A to close its upstream request")
        assert fake_model.active_streams == 0
        assert len(fake_model.chat_requests) == 1
        row = await stored_message(server_env["DB_URL"], message_id)
        assert (row.status.value, row.content) == ("CANCELLED", cancelled["content"])
        again = await on_a.post(CANCEL, {"id": message_id}, token=alice)
        assert again["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.fixture
def lagging_env(server_env: dict[str, str]) -> dict[str, str]:
    # Rows are flushed only every 30 s, so during the test the row lags behind the stream.
    return server_env | {"FLUSH_INTERVAL": "30"}


@on_postgres
async def test_joining_late_on_another_process_between_flushes_misses_no_text(
    lagging_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Tell me a story"] = Reply(content=STORY, delay=0.02)
    async with (
        serving_together(lagging_env, tmp_path, 2) as (a, b),
        client(a) as on_a,
        client(b) as on_b,
    ):
        alice = await on_a.register("alice")
        message_id = await start_reply(on_a, alice, "Tell me a story")
        async with stream(a, alice, message_id) as early:
            seen = await early.until_text(30)
            row = (await on_b.ok(MESSAGE, {"id": message_id}, token=alice))["message"]
            assert row["status"] == "STREAMING"
            assert len(row["content"]) < len(seen), "the row must lag behind for this test"

            async with stream(b, alice, message_id) as late:
                first = await late.next()
                assert first is not None
                assert first["delta"].startswith(seen)
                await late.until_done("COMPLETE")
            await early.until_done("COMPLETE")

        assert late.text == early.text == STORY
        stored = (await on_b.ok(MESSAGE, {"id": message_id}, token=alice))["message"]
        assert stored["content"] == STORY


CONTINUE = "mutation($id: ID!) { continueGeneration(messageId: $id) { status content } }"


@on_postgres
async def test_a_continued_reply_reaches_a_late_subscriber_on_another_process_whole(
    lagging_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Tell me a story"] = Reply(content=STORY[:60], finish_reason="length")
    gate = Gate(4)
    rest = " And the tree kept growing." * 4
    fake_model.continuations["Tell me a story"] = Reply(content=rest, gate=gate)
    async with (
        serving_together(lagging_env, tmp_path, 2) as (a, b),
        client(a) as on_a,
        client(b) as on_b,
    ):
        alice = await on_a.register("alice")
        message_id = await start_reply(on_a, alice, "Tell me a story")

        async def cut_short() -> bool:
            row = (await on_b.ok(MESSAGE, {"id": message_id}, token=alice))["message"]
            return bool(row["status"] == "COMPLETE")

        await wait_until(cut_short, what="the first reply to stop at its length")
        partial = (await on_b.ok(MESSAGE, {"id": message_id}, token=alice))["message"]["content"]
        continued = await on_a.ok(CONTINUE, {"id": message_id}, token=alice)
        assert continued["continueGeneration"]["status"] == "STREAMING"
        async with stream(a, alice, message_id) as early:
            seen = await early.until_text(len(partial) + 1)
            assert seen.startswith(partial)
            # Rows are flushed every 30 s: the late subscriber on B needs A's flush.
            async with stream(b, alice, message_id) as late:
                first = await late.next()
                assert first is not None
                assert first["delta"].startswith(seen)
                gate.open()
                await late.until_done("COMPLETE")
            await early.until_done("COMPLETE")

        assert late.text == early.text == partial + rest
        stored = (await on_b.ok(MESSAGE, {"id": message_id}, token=alice))["message"]
        assert stored == {"content": partial + rest, "status": "COMPLETE", "error": None}


@on_postgres
@pytest.mark.empty_database
async def test_processes_starting_together_on_a_fresh_database_migrate_in_turn(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    async with (
        serving_together(server_env, tmp_path, 2) as (a, b),
        client(a) as on_a,
        client(b) as on_b,
    ):
        alice = await on_a.register("alice")
        me = await on_b.ok("{ me { username } }", token=alice)
        assert me == {"me": {"username": "alice"}}
        migrated = [server for server in (a, b) if "Running upgrade" in server.output()]
        assert len(migrated) == 1, "exactly one process applies the migrations"
    assert await schema_version(server_env["DB_URL"]) is not None


@pytest.mark.empty_database
async def test_migrate_twice_is_a_no_op_the_second_time(server_env: dict[str, str]) -> None:
    first = await migrate(server_env)
    assert first.returncode == 0, first.stderr
    assert "Running upgrade" in first.stderr
    version = await schema_version(server_env["DB_URL"])
    assert version is not None

    second = await migrate(server_env)
    assert second.returncode == 0, second.stderr
    assert "Running upgrade" not in second.stderr
    assert await schema_version(server_env["DB_URL"]) == version


async def migrate(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full = {name: os.environ[name] for name in INHERITED if name in os.environ} | env
    return await asyncio.to_thread(
        subprocess.run,
        [CHATTREE, "migrate"],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def schema_version(db_url: str) -> str | None:
    db = create_database(Settings(db_url=db_url))
    try:
        async with db.reader() as session:
            versions = list(await session.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        await db.dispose()
    assert len(versions) <= 1
    return versions[0] if versions else None


@on_postgres
async def test_a_subscriber_elsewhere_gets_the_end_of_a_reply_whose_process_stopped(
    server_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Go on forever"] = forever = Reply(
        content=LONG_STORY, delay=0.05, endless=True
    )
    async with serving_together(server_env, tmp_path, 2) as (a, b), client(b) as on_b:
        alice = await on_b.register("alice")
        async with client(a) as on_a:
            message_id = await start_reply(on_a, alice, "Go on forever")
        async with stream(b, alice, message_id) as live:
            await live.until_text(6)
            a.send(signal.SIGTERM)
            last = await live.until_done("INTERRUPTED")
        assert await a.wait() == 0

        assert last["error"]
        row = await stored_message(server_env["DB_URL"], message_id)
        assert (row.status.value, row.error) == ("INTERRUPTED", last["error"])
        assert row.content == live.text
        assert forever.could_have_sent(row.content)


@on_postgres
async def test_a_peer_ends_the_reply_of_a_killed_process_for_its_subscribers(
    server_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Go on forever"] = forever = Reply(
        content=LONG_STORY, delay=0.05, endless=True
    )
    async with serving_together(server_env, tmp_path, 2) as (a, b), client(b) as on_b:
        alice = await on_b.register("alice")
        async with client(a) as on_a:
            message_id = await start_reply(on_a, alice, "Go on forever")

        async def flushed() -> str:
            return (await stored_message(server_env["DB_URL"], message_id)).content

        async with stream(b, alice, message_id) as live:
            await wait_until(flushed, what="a flush of the reply")
            a.send(signal.SIGKILL)
            assert await a.wait() == -signal.SIGKILL
            # B's periodic sweep finds the reply without a heartbeat and ends it.
            await live.until_done("INTERRUPTED", timeout=20)

        row = await stored_message(server_env["DB_URL"], message_id)
        assert row.status.value == "INTERRUPTED"
        assert row.content
        # Text published after the last flush died with process A: the row keeps a
        # prefix of what the subscriber saw.
        assert live.text.startswith(row.content)
        assert forever.could_have_sent(live.text)


async def test_uvicorn_serves_the_app_by_its_import_path(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    async with (
        serving(server_env, tmp_path / "uvicorn.log", plain_uvicorn=True) as server,
        client(server) as api,
    ):
        alice = await api.register("alice")
        assert await api.ok("{ me { username } }", token=alice) == {"me": {"username": "alice"}}


@on_postgres
async def test_two_devices_on_two_processes_see_each_others_changes_in_order(
    server_env: dict[str, str], db_url: str, tmp_path: Path
) -> None:
    """Device A is served by process a, device B by process b: every change made
    through one reaches the other through LISTEN/NOTIFY, in order; B drops off, A goes on,
    and B resumes with its last cursor to exactly what it missed."""
    async with (
        serving_together(server_env, tmp_path, 2) as (a, b),
        client(a) as on_a,
        client(b) as on_b,
    ):
        alice = await on_a.register("alice")
        first = await device_creates(on_a, alice, "first")
        cursor = await last_cursor(on_a, db_url, alice)
        async with (
            following(a.ws_url, alice, cursor) as device_a,
            following(b.ws_url, alice, cursor) as device_b,
        ):
            made_on_b = await device_creates(on_b, alice, "from b")
            made_on_a = await device_creates(on_a, alice, "from a")
            await on_b.ok(UPDATE, {"id": first, "p": True}, token=alice)
            expected = [
                *conversation_made(made_on_b),
                *conversation_made(made_on_a),
                ("CONVERSATION_UPDATED", first),
            ]
            seen_on_a, seen = await device_a.take(9), await device_b.take(9)
            for events in (seen_on_a, seen):
                assert [(e["kind"], e["conversationId"]) for e in events] == expected
            assert [e["cursor"] for e in seen_on_a] == [e["cursor"] for e in seen]
            last_seen = seen[-1]["cursor"]
        # B is offline while A changes things.
        missed = await device_creates(on_a, alice, "while b was away")
        await on_a.ok(UPDATE, {"id": made_on_b, "a": True}, token=alice)
        async with following(b.ws_url, alice, last_seen) as device_b:
            resumed = await device_b.take(5)
            assert [(e["kind"], e["conversationId"]) for e in resumed] == [
                *conversation_made(missed),
                ("CONVERSATION_UPDATED", made_on_b),
            ]
            assert resumed[-1]["conversation"]["archived"] is True
            # And live again, from a change made on the other process.
            await on_a.ok(UPDATE, {"id": made_on_b, "a": False}, token=alice)
            (live,) = await device_b.take(1)
            assert live["kind"] == "CONVERSATION_UPDATED"
            assert live["conversation"]["archived"] is False


UPDATE = """
mutation($id: ID!, $a: Boolean, $p: Boolean) {
  updateConversation(id: $id, archived: $a, pinned: $p) { id }
}
"""
CREATE_AND_WAIT = """
mutation($c: String!) {
  createConversation(content: $c, title: $c, wait: true) { conversation { id } }
}
"""


async def device_creates(server: Client, token: str, content: str) -> str:
    data = await server.ok(CREATE_AND_WAIT, {"c": content}, token=token)
    conversation_id: str = data["createConversation"]["conversation"]["id"]
    return conversation_id


def conversation_made(conversation_id: str) -> list[tuple[str, str]]:
    """The events of a createConversation that waited for its reply."""
    kinds = ["CONVERSATION_CREATED", "MESSAGE_CREATED", "MESSAGE_CREATED", "MESSAGE_UPDATED"]
    return [(kind, conversation_id) for kind in kinds]

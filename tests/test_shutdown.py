"""A server that stops in the middle of a reply: killed outright (kill -9) or asked to
stop (SIGTERM). Either way the reply ends final, with the text it had, and nothing
else is lost."""

from __future__ import annotations

import signal
from pathlib import Path

import aiohttp
import pytest

from chattree.db.models import Status
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.processes import client, serving, stored_message, stream, wait_until

LONG_STORY = "The reply that never ends goes on and on, token after token. "
SHORT_STORY = "A short reply that ends soon after it starts."

CREATE = """
mutation($c: String!) {
  createConversation(content: $c) {
    conversation { id }
    userMessage { id }
    assistantMessage { id status }
  }
}
"""
CONVERSATION = """
query($id: ID!) {
  conversation(id: $id) {
    messageCount
    messages { id parentId role content status error }
  }
}
"""
PROMPT = """
mutation($p: ID!, $c: String!) {
  prompt(parentId: $p, content: $c, wait: true) { assistantMessage { content status } }
}
"""


async def test_a_killed_server_leaves_its_reply_interrupted_with_the_flushed_text(
    server_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Go on forever"] = forever = Reply(
        content=LONG_STORY, delay=0.05, endless=True
    )
    db_url = server_env["DB_URL"]
    async with serving(server_env, tmp_path / "first.log") as first, client(first) as api:
        alice = await api.register("alice")
        created = (await api.ok(CREATE, {"c": "Go on forever"}, token=alice))["createConversation"]
        conversation_id = created["conversation"]["id"]
        reply_id = created["assistantMessage"]["id"]

        async def flushed() -> str:
            return (await stored_message(db_url, reply_id)).content

        await wait_until(flushed, what="a flush of the reply")
        first.send(signal.SIGKILL)
        assert await first.wait() == -signal.SIGKILL

    left = await stored_message(db_url, reply_id)
    assert left.status is Status.STREAMING
    assert left.content
    assert forever.could_have_sent(left.content)

    async with serving(server_env, tmp_path / "second.log") as second, client(second) as api:

        async def interrupted() -> bool:
            return (await stored_message(db_url, reply_id)).status is Status.INTERRUPTED

        await wait_until(interrupted, what="the sweep to end the abandoned reply")
        data = await api.ok(CONVERSATION, {"id": conversation_id}, token=alice)
        messages = data["conversation"]["messages"]
        assert data["conversation"]["messageCount"] == 3
        root, question, reply = messages
        assert (root["role"], root["status"]) == ("SYSTEM", "COMPLETE")
        assert question["id"] == created["userMessage"]["id"]
        assert (question["content"], question["status"]) == ("Go on forever", "COMPLETE")
        assert reply["id"] == reply_id
        assert reply["status"] == "INTERRUPTED"
        assert reply["content"] == left.content
        assert reply["error"]

        # A subscriber learns the end at once, with the text that was kept.
        async with stream(second, alice, reply_id) as live:
            await live.until_done("INTERRUPTED")
        assert len(live.events) == 1
        assert live.text == left.content

        # The conversation goes on under the interrupted reply, whose text the model sees.
        answer = await api.ok(PROMPT, {"p": reply_id, "c": "Continue"}, token=alice)
        assert answer["prompt"]["assistantMessage"] == {
            "content": "Echo: Continue",
            "status": "COMPLETE",
        }
        sent = fake_model.chat_requests[-1]["messages"]
        assert sent[-2] == {"role": "assistant", "content": left.content}


@pytest.fixture
def no_grace_env(server_env: dict[str, str]) -> dict[str, str]:
    return server_env | {"SHUTDOWN_GRACE": "0"}


async def test_sigterm_interrupts_a_running_reply_and_tells_its_subscriber(
    no_grace_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Go on forever"] = forever = Reply(
        content=LONG_STORY, delay=0.05, endless=True
    )
    async with serving(no_grace_env, tmp_path / "server.log") as server, client(server) as api:
        alice = await api.register("alice")
        created = (await api.ok(CREATE, {"c": "Go on forever"}, token=alice))["createConversation"]
        reply_id = created["assistantMessage"]["id"]
        async with stream(server, alice, reply_id) as live:
            await live.until_text(6)
            server.send(signal.SIGTERM)
            last = await live.until_done("INTERRUPTED")
        assert await server.wait() == 0

    assert last["error"]
    row = await stored_message(no_grace_env["DB_URL"], reply_id)
    assert row.status is Status.INTERRUPTED
    assert row.error == last["error"]
    assert row.content == live.text
    assert row.content
    assert forever.could_have_sent(row.content)
    assert fake_model.disconnects == 1


@pytest.fixture
def grace_env(server_env: dict[str, str]) -> dict[str, str]:
    return server_env | {"SHUTDOWN_GRACE": "30"}


async def test_sigterm_lets_a_reply_finish_within_the_grace_period(
    grace_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.replies["Tell me briefly"] = Reply(content=SHORT_STORY, delay=0.05)
    async with serving(grace_env, tmp_path / "server.log") as server, client(server) as api:
        alice = await api.register("alice")
        created = (await api.ok(CREATE, {"c": "Tell me briefly"}, token=alice))[
            "createConversation"
        ]
        reply_id = created["assistantMessage"]["id"]
        async with stream(server, alice, reply_id) as live:
            await live.until_text(3)
            server.send(signal.SIGTERM)
            last = await live.until_done("COMPLETE")
        assert await server.wait() == 0

    assert last["error"] is None
    assert live.text == SHORT_STORY
    row = await stored_message(grace_env["DB_URL"], reply_id)
    assert (row.status, row.content) == (Status.COMPLETE, SHORT_STORY)
    assert fake_model.disconnects == 0


async def test_a_stopping_server_refuses_new_connections_while_replies_drain(
    grace_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    # A load balancer must send new work elsewhere, not to a process about to end it. The
    # gate holds the reply, so the server is still draining however long the check takes.
    gate = Gate(allowed=6)
    fake_model.replies["Tell me briefly"] = Reply(content=SHORT_STORY, gate=gate)
    db_url = grace_env["DB_URL"]
    async with serving(grace_env, tmp_path / "server.log") as server, client(server) as api:
        alice = await api.register("alice")
        created = (await api.ok(CREATE, {"c": "Tell me briefly"}, token=alice))[
            "createConversation"
        ]
        reply_id = created["assistantMessage"]["id"]
        async with stream(server, alice, reply_id) as live:
            await live.until_text(6)
            server.send(signal.SIGTERM)

            async def refused() -> bool:
                try:
                    async with aiohttp.ClientSession() as fresh, fresh.get(f"{server.url}/healthz"):
                        return False
                except aiohttp.ClientConnectionError:
                    return True

            await wait_until(refused, what="the server to stop listening")
            assert (await stored_message(db_url, reply_id)).status is Status.STREAMING
            gate.open()
            await live.until_done("COMPLETE")
        assert await server.wait() == 0

    row = await stored_message(db_url, reply_id)
    assert (row.status, row.content) == (Status.COMPLETE, SHORT_STORY)
    assert live.text == SHORT_STORY


@pytest.fixture
def rare_flush_env(server_env: dict[str, str]) -> dict[str, str]:
    return server_env | {"FLUSH_INTERVAL": "30", "HEARTBEAT_INTERVAL": "0.2", "STALE_AFTER": "2"}


async def test_a_reply_keeps_its_heartbeat_between_rare_flushes(
    rare_flush_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    # Otherwise a peer (or a restart) would take a live reply for abandoned once
    # STALE_AFTER passed without a flush, and interrupt it.
    fake_model.replies["Go on forever"] = Reply(content=LONG_STORY, delay=0.05, endless=True)
    db_url = rare_flush_env["DB_URL"]
    async with serving(rare_flush_env, tmp_path / "server.log") as server, client(server) as api:
        alice = await api.register("alice")
        created = (await api.ok(CREATE, {"c": "Go on forever"}, token=alice))["createConversation"]
        reply_id = created["assistantMessage"]["id"]
        first_beat = (await stored_message(db_url, reply_id)).heartbeat_at
        assert first_beat is not None

        async def beat_again() -> bool:
            row = await stored_message(db_url, reply_id)
            assert row.status is Status.STREAMING
            assert row.heartbeat_at is not None
            return (row.heartbeat_at - first_beat).total_seconds() >= 0.4

        await wait_until(beat_again, what="the heartbeat to move on")
        assert (await stored_message(db_url, reply_id)).content == ""  # no flush yet

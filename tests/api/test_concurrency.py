"""Many prompts at once on one conversation: every one is stored, none waits on a
locked database, and siblings are numbered without gaps or duplicates."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api

CONCURRENT = 50
CREATE = """
mutation { createConversation(content: "Start", title: "Busy", wait: true) {
  conversation { id } assistantMessage { id } } }
"""
PROMPT = """
mutation($parent: ID!, $c: String!, $wait: Boolean!) {
  prompt(parentId: $parent, content: $c, wait: $wait) {
    userMessage { id }
    assistantMessage { id status content }
  }
}
"""
SIBLINGS = """
query($id: ID!) {
  children(id: $id) { id content siblingIndex siblingCount }
  message(id: $id) { childCount }
}
"""


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # One user sends all fifty at once, past the per-user limits a person meets.
    return {**server_env, "MAX_STREAMS_PER_USER": "1000", "PROMPTS_PER_MINUTE": "1000"}


async def start(api: Api, token: str) -> tuple[str, str]:
    data = (await api.ok(CREATE, token=token))["createConversation"]
    return data["conversation"]["id"], data["assistantMessage"]["id"]


async def test_fifty_concurrent_prompts_on_one_conversation_all_succeed(
    api: Api, alice: str
) -> None:
    conversation_id, first_reply = await start(api, alice)
    # Half under the first reply, half under the root: writes to both ends of the tree,
    # and fifty replies streaming and being stored at the same time.
    root = (
        await api.ok(
            f'{{ conversation(id: "{conversation_id}") {{ root {{ id }} }} }}', token=alice
        )
    )["conversation"]["root"]["id"]
    parents = [first_reply if index % 2 else root for index in range(CONCURRENT)]
    bodies = await asyncio.gather(
        *(
            api.post(PROMPT, {"parent": parent, "c": f"p{index}", "wait": True}, token=alice)
            for index, parent in enumerate(parents)
        )
    )
    errors = [body["errors"] for body in bodies if body.get("errors")]
    assert errors == []
    replies = [body["data"]["prompt"]["assistantMessage"] for body in bodies]
    assert [(r["status"], r["content"]) for r in replies] == [
        ("COMPLETE", f"Echo: p{index}") for index in range(CONCURRENT)
    ]
    count = await api.ok(
        "query($id: ID!) { conversation(id: $id) { messageCount } }",
        {"id": conversation_id},
        token=alice,
    )
    assert count["conversation"]["messageCount"] == 3 + 2 * CONCURRENT


async def test_fifty_concurrent_prompts_under_one_parent_are_siblings_one_to_fifty(
    api: Api, alice: str
) -> None:
    _, parent = await start(api, alice)
    payloads: list[dict[str, Any]] = await asyncio.gather(
        *(
            api.ok(PROMPT, {"parent": parent, "c": f"edit {i}", "wait": False}, token=alice)
            for i in range(CONCURRENT)
        )
    )
    user_ids = sorted(int(p["prompt"]["userMessage"]["id"]) for p in payloads)
    assert len(set(user_ids)) == CONCURRENT
    data = await api.ok(SIBLINGS, {"id": parent}, token=alice)
    children = data["children"]
    assert data["message"]["childCount"] == CONCURRENT
    # Oldest first, numbered 1..50, each counting all fifty.
    assert [int(child["id"]) for child in children] == user_ids
    assert [child["siblingIndex"] for child in children] == list(range(1, CONCURRENT + 1))
    assert {child["siblingCount"] for child in children} == {CONCURRENT}
    assert sorted(child["content"] for child in children) == sorted(
        f"edit {i}" for i in range(CONCURRENT)
    )
    # The same numbers seen from each message on its own.
    for child in children[:: CONCURRENT // 5]:
        alone = await api.ok(
            "query($id: ID!) { message(id: $id) { siblingIndex siblingCount } }",
            {"id": child["id"]},
            token=alice,
        )
        assert alone["message"] == {
            "siblingIndex": child["siblingIndex"],
            "siblingCount": CONCURRENT,
        }


async def test_more_replies_than_an_http_client_pools_by_default_stream_at_once(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    # aiohttp pools 100 connections unless told otherwise: the 101st reply would wait,
    # with no timeout, until another one ended.
    held = 101
    _, first_reply = await start(api, alice)
    fake_model.default_reply = lambda text: Reply(content="never sent", stall_after=0)
    fake_model.streams_started = 0
    await asyncio.gather(
        *(
            api.ok(
                PROMPT, {"parent": first_reply, "c": f"held {index}", "wait": False}, token=alice
            )
            for index in range(held)
        )
    )
    await fake_model.wait_for_streams(held, timeout=60)
    assert fake_model.active_streams >= held

"""Fitting a branch into the model's context window: the root always, then the newest
messages that fit beside it with room kept for the reply; too long a message is refused
before anything is stored."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api

CONTEXT = 256
SYSTEM = "Be brief."
QUESTION = "x" * 56  # with "qNN: ", 61 bytes: 16 + 4 estimated tokens
CREATE = """
mutation($c: String!, $s: String) {
  createConversation(content: $c, systemPrompt: $s, title: "Fit", wait: true) {
    conversation { id }
    assistantMessage { id contextMessageCount }
  }
}
"""
PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c, wait: true) {
    userMessage { id contextMessageCount }
    assistantMessage { id status contextMessageCount }
  }
}
"""
COUNT = "query($id: ID!) { conversation(id: $id) { messageCount } }"


def estimate(text: str) -> int:
    """The estimate the server stores: UTF-8 bytes / 4, rounded up, + 4 per message."""
    return -(-len(text.encode()) // 4) + 4


def expected_window(branch: list[dict[str, str]], budget: int) -> list[dict[str, str]]:
    """What the model must be sent for the last message of `branch` (root first)."""
    root, *turns = branch
    kept: list[dict[str, str]] = []
    total = estimate(root["content"])
    for message in reversed(turns):
        total += estimate(message["content"])
        if total > budget and kept:
            break
        kept.insert(0, message)
    if len(kept) < len(turns) and kept[0]["role"] == "assistant":
        kept = kept[1:]
    return [root, *kept]


@pytest.fixture(autouse=True)
def uncalibrated(fake_model: FakeModelServer) -> None:
    """These tests specify fitting by the stored estimates alone: no usage is reported,
    so nothing calibrates them (tests/api/test_usage.py covers calibration)."""
    fake_model.default_reply = lambda last: Reply(content=f"Echo: {last}", usage=False)


@pytest.fixture(params=[56, 36], ids=["cut-before-a-question", "cut-before-a-reply"])
def reply_tokens(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def server_env(server_env: dict[str, str], reply_tokens: int) -> dict[str, str]:
    return {
        **server_env,
        "MODEL_CONTEXT_TOKENS": str(CONTEXT),
        "MODEL_REPLY_TOKENS": str(reply_tokens),
    }


async def test_a_branch_deeper_than_the_window_sends_the_root_and_the_newest_turns(
    api: Api, alice: str, fake_model: FakeModelServer, reply_tokens: int
) -> None:
    budget = CONTEXT - reply_tokens
    data = await api.ok(CREATE, {"c": f"q00: {QUESTION}", "s": SYSTEM}, token=alice)
    parent = data["createConversation"]["assistantMessage"]["id"]
    branch: list[dict[str, str]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": f"q00: {QUESTION}"},
        {"role": "assistant", "content": f"Echo: q00: {QUESTION}"},
    ]
    for turn in range(1, 12):
        question = f"q{turn:02d}: {QUESTION}"
        data = await api.ok(PROMPT, {"parent": parent, "c": question}, token=alice)
        reply = data["prompt"]["assistantMessage"]
        parent = reply["id"]
        branch.append({"role": "user", "content": question})
        sent = fake_model.chat_requests[-1]["messages"]
        assert sent == expected_window(branch, budget)
        assert reply["contextMessageCount"] == len(sent)
        assert data["prompt"]["userMessage"]["contextMessageCount"] is None
        assert reply["status"] == "COMPLETE"
        branch.append({"role": "assistant", "content": f"Echo: {question}"})
    # The branch outgrew the window: the oldest turns were left out, the root never.
    sent = fake_model.chat_requests[-1]["messages"]
    assert len(sent) < len(branch) - 1
    assert sent[0] == {"role": "system", "content": SYSTEM}
    assert sent[1]["role"] == "user"


async def test_a_message_longer_than_the_window_is_refused_and_nothing_is_stored(
    api: Api, alice: str, fake_model: FakeModelServer, reply_tokens: int
) -> None:
    budget = CONTEXT - reply_tokens
    fits = "y" * (4 * (budget - estimate(SYSTEM) - 4))
    too_long = fits + "y"
    error = await api.fails(CREATE, {"c": too_long, "s": SYSTEM}, token=alice)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "content"}
    assert "context window" in error["message"]
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert listed["conversations"]["edges"] == []

    data = await api.ok(CREATE, {"c": "hello", "s": SYSTEM}, token=alice)
    conversation = data["createConversation"]["conversation"]["id"]
    parent = data["createConversation"]["assistantMessage"]["id"]
    requests = len(fake_model.chat_requests)
    error = await api.fails(PROMPT, {"parent": parent, "c": too_long}, token=alice)
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "content"}
    assert (await count(api, alice, conversation)) == 3
    assert len(fake_model.chat_requests) == requests

    # The longest message that fits is sent whole, with the root and nothing else.
    data = await api.ok(PROMPT, {"parent": parent, "c": fits}, token=alice)
    assert data["prompt"]["assistantMessage"]["contextMessageCount"] == 2
    assert [m["content"] for m in fake_model.chat_requests[-1]["messages"]] == [SYSTEM, fits]


async def test_a_long_system_prompt_leaves_less_room(
    api: Api, alice: str, reply_tokens: int
) -> None:
    budget = CONTEXT - reply_tokens
    system = "s" * (4 * (budget - 10))
    error = await api.fails(CREATE, {"c": "z" * 40, "s": system}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    await api.ok(CREATE, {"c": "z", "s": system}, token=alice)


async def count(api: Api, token: str, conversation: str) -> Any:
    return (await api.ok(COUNT, {"id": conversation}, token=token))["conversation"]["messageCount"]

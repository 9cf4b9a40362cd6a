"""Token usage: what the model server reports is stored on each reply, summed per
conversation and per user, taken back by deletes, and calibrates context fitting."""

from __future__ import annotations

import pytest

from tests.api.controls import CONVERSATION, ME, PROMPT, REGENERATE, create, message
from tests.fake_model import FakeModelServer, Reply, tokens, usage_of
from tests.harness import Api

DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"
DELETE_MESSAGE = "mutation($id: ID!) { deleteMessage(id: $id) { id } }"
FORK = "mutation($id: ID!) { forkConversation(messageId: $id) { id usage { totalTokens } } }"


def reported(sent: list[dict[str, str]], reply: str) -> dict[str, int]:
    """What the fake model reports for a request and its answer."""
    counts = usage_of(sent, len(tokens(reply)))
    return {
        "promptTokens": counts["prompt_tokens"],
        "completionTokens": counts["completion_tokens"],
        "totalTokens": counts["total_tokens"],
    }


async def test_a_reply_stores_the_usage_the_server_reported_and_its_finish_reason(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    reply = (await create(api, alice, "Count my tokens"))["assistantMessage"]
    sent = fake_model.chat_requests[-1]["messages"]
    assert reply["usage"] == reported(sent, "Echo: Count my tokens")
    assert reply["finishReason"] == "stop"
    assert (await message(api, alice, reply["id"]))["usage"] == reply["usage"]


async def test_a_reply_without_reported_usage_has_none_and_adds_nothing(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Quiet"] = Reply(content="No counts here.", usage=False)
    payload = await create(api, alice, "Quiet")
    assert payload["assistantMessage"]["usage"] is None
    assert payload["assistantMessage"]["finishReason"] == "stop"
    found = await api.ok(CONVERSATION, {"id": payload["conversation"]["id"]}, token=alice)
    assert found["conversation"]["usage"] == {
        "promptTokens": 0,
        "completionTokens": 0,
        "totalTokens": 0,
    }
    assert (await api.ok(ME, token=alice))["me"]["usage"]["totalTokens"] == 0


def total(*usages: dict[str, int]) -> dict[str, int]:
    return {key: sum(u[key] for u in usages) for key in usages[0]}


async def test_sums_follow_every_reply_and_every_delete(
    api: Api, alice: str, bob: str, fake_model: FakeModelServer
) -> None:
    first = await create(api, alice, "One")
    second = await create(api, alice, "Two")
    conversation = first["conversation"]["id"]
    reply = first["assistantMessage"]
    prompted = (
        await api.ok(PROMPT, {"parent": reply["id"], "c": "Three", "wait": True}, token=alice)
    )["prompt"]["assistantMessage"]
    sibling = (await api.ok(REGENERATE, {"id": reply["id"], "wait": True}, token=alice))[
        "regenerate"
    ]
    await create(api, bob, "Bob's own")
    in_first = [reply["usage"], prompted["usage"], sibling["usage"]]
    found = await api.ok(CONVERSATION, {"id": conversation}, token=alice)
    assert found["conversation"]["usage"] == total(*in_first)
    me = (await api.ok(ME, token=alice))["me"]["usage"]
    assert me == total(*in_first, second["assistantMessage"]["usage"])

    # Deleting a subtree takes its replies back from both sums.
    await api.ok(DELETE_MESSAGE, {"id": prompted["id"]}, token=alice)
    found = await api.ok(CONVERSATION, {"id": conversation}, token=alice)
    assert found["conversation"]["usage"] == total(reply["usage"], sibling["usage"])

    # Deleting the conversation takes the rest back from the user's.
    await api.ok(DELETE, {"id": conversation}, token=alice)
    me = (await api.ok(ME, token=alice))["me"]["usage"]
    assert me == second["assistantMessage"]["usage"]
    assert (await api.ok(ME, token=bob))["me"]["usage"]["totalTokens"] > 0


async def test_a_fork_copies_replies_but_not_their_usage(api: Api, alice: str) -> None:
    reply = (await create(api, alice, "Fork me"))["assistantMessage"]
    fork = (await api.ok(FORK, {"id": reply["id"]}, token=alice))["forkConversation"]
    assert fork["usage"] == {"totalTokens": 0}
    before = (await api.ok(ME, token=alice))["me"]["usage"]
    assert before == reply["usage"]


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # A window of 300 estimated tokens for the prompt: a few turns of QUESTION.
    return {**server_env, "MODEL_CONTEXT_TOKENS": "400", "MODEL_REPLY_TOKENS": "100"}


QUESTION = "x" * 200  # 50 + 4 estimated tokens, and one "token" for the fake model


async def test_reported_prompt_tokens_calibrate_the_window_of_later_replies(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    # The fake model counts words, far fewer than the estimate: once it has reported,
    # the window holds more of the branch than the estimates alone would let in.
    fake_model.default_reply = lambda last: Reply(content="ok", usage=False)
    parent = (await create(api, alice, QUESTION))["assistantMessage"]["id"]
    for _ in range(4):
        data = await api.ok(PROMPT, {"parent": parent, "c": QUESTION, "wait": True}, token=alice)
        parent = data["prompt"]["assistantMessage"]["id"]
    uncalibrated = len(fake_model.chat_requests[-1]["messages"])
    assert uncalibrated < 11, "the branch should not fit whole without calibration"

    fake_model.default_reply = lambda last: Reply(content="ok")
    data = await api.ok(PROMPT, {"parent": parent, "c": QUESTION, "wait": True}, token=alice)
    parent = data["prompt"]["assistantMessage"]["id"]
    data = await api.ok(PROMPT, {"parent": parent, "c": QUESTION, "wait": True}, token=alice)
    calibrated = fake_model.chat_requests[-1]["messages"]
    # The whole branch: the root, six questions with their replies, and the seventh.
    assert len(calibrated) == 1 + 2 * 6 + 1

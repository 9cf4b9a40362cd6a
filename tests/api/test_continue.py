"""continueGeneration: a reply that stopped early is sent back as the last assistant
message, and what the model writes is appended to the same row, live."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.controls import CANCEL, CONTINUE, code_of, create, message
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api
from tests.ws import (
    assert_well_formed,
    connect,
    content_of,
    next_event,
    published,
    stream_events,
    subscribe_stream,
    until,
)

STORY = "Once upon a time there was a tree of messages that grew in every direction."
REST = " The end came, and every branch was kept."


async def ended_early(api: Api, token: str, fake: FakeModelServer, how: str) -> dict[str, Any]:
    """A reply that stopped part-way: cancelled, cut by the server, or at max_tokens."""
    if how == "cancel":
        gate = Gate(4)
        fake.replies["Tell"] = Reply(content=STORY, gate=gate)
        reply = (await create(api, token, "Tell", wait=False))["assistantMessage"]
        await until(lambda: published(api, reply["id"]) >= 10)
        await api.ok(CANCEL, {"id": reply["id"]}, token=token)
        gate.open()
    elif how == "cut":
        fake.replies["Tell"] = Reply(content=STORY, cut_after=5)
        reply = (await create(api, token, "Tell"))["assistantMessage"]
    else:
        fake.replies["Tell"] = Reply(content=STORY[:30], finish_reason="length")
        reply = (await create(api, token, "Tell"))["assistantMessage"]
    return await message(api, token, reply["id"])


ENDINGS = {"cancel": "CANCELLED", "cut": "FAILED", "length": "COMPLETE"}


@pytest.mark.parametrize("how", list(ENDINGS))
async def test_a_reply_that_stopped_early_is_continued_on_the_same_row(
    api: Api, alice: str, fake_model: FakeModelServer, how: str
) -> None:
    partial = await ended_early(api, alice, fake_model, how)
    assert partial["status"] == ENDINGS[how]
    assert partial["content"] and STORY.startswith(partial["content"])
    if how == "length":
        assert partial["finishReason"] == "length"

    gate = Gate(2)
    fake_model.continuations["Tell"] = Reply(content=REST, gate=gate)
    continued = (await api.ok(CONTINUE, {"id": partial["id"]}, token=alice))["continueGeneration"]
    assert continued["id"] == partial["id"]
    assert continued["status"] == "STREAMING"
    assert continued["error"] is None and continued["finishReason"] is None

    # A subscriber joining mid-continuation first gets the whole text so far.
    await until(lambda: published(api, partial["id"]) > len(partial["content"]))
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, partial["id"])
        first = await next_event(operation)
        gate.open()
        events = [first, *await stream_events(operation)]
    assert first["delta"].startswith(partial["content"])
    assert len(first["delta"]) > len(partial["content"])
    assert_well_formed(events, "COMPLETE")

    stored = await message(api, alice, partial["id"])
    assert stored["content"] == partial["content"] + REST
    assert content_of(events) == stored["content"]
    assert stored["finishReason"] == "stop"
    assert stored["error"] is None

    # The model was sent the branch with the partial reply as the last assistant turn.
    sent = fake_model.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant"]
    assert sent[-1] == {"role": "assistant", "content": partial["content"]}

    # Usage covers both requests.
    first_usage = partial["usage"]
    assert stored["usage"] is not None
    if first_usage is not None:
        assert stored["usage"]["completionTokens"] > first_usage["completionTokens"]


async def test_a_subscriber_after_the_continuation_gets_one_event_with_all_the_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    partial = await ended_early(api, alice, fake_model, "length")
    continued = (await api.ok(CONTINUE, {"id": partial["id"], "wait": True}, token=alice))[
        "continueGeneration"
    ]
    assert continued["content"] == partial["content"] + fake_model.continuation
    async with connect(api.ws_url, token=alice) as ws:
        (event,) = await stream_events(await subscribe_stream(ws, partial["id"]))
    assert (event["delta"], event["done"]) == (continued["content"], True)


async def test_a_continuation_can_itself_be_cancelled_and_continued_again(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    partial = await ended_early(api, alice, fake_model, "length")
    gate = Gate(2)
    fake_model.continuations["Tell"] = Reply(content=REST, gate=gate)
    await api.ok(CONTINUE, {"id": partial["id"]}, token=alice)
    await until(lambda: published(api, partial["id"]) > len(partial["content"]))
    cancelled = (await api.ok(CANCEL, {"id": partial["id"]}, token=alice))["cancelGeneration"]
    gate.open()
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["content"].startswith(partial["content"])
    fake_model.continuations["Tell"] = Reply(content=" Again.")
    again = (await api.ok(CONTINUE, {"id": partial["id"], "wait": True}, token=alice))[
        "continueGeneration"
    ]
    assert again["content"] == cancelled["content"] + " Again."
    assert fake_model.chat_requests[-1]["messages"][-1]["content"] == cancelled["content"]


async def test_only_a_reply_that_stopped_early_can_be_continued(
    api: Api, alice: str, bob: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "Finished")
    complete = payload["assistantMessage"]
    assert complete["finishReason"] == "stop"
    requests = len(fake_model.chat_requests)
    # A reply that ended normally, a user message, and the system prompt.
    for message_id in (complete["id"], payload["userMessage"]["id"]):
        assert await code_of(api, CONTINUE, {"id": message_id}, alice) == "BAD_USER_INPUT"
    # A reply still streaming.
    fake_model.replies["Slow"] = Reply(content=STORY, gate=Gate(1))
    streaming = (await create(api, alice, "Slow", wait=False))["assistantMessage"]
    assert await code_of(api, CONTINUE, {"id": streaming["id"]}, alice) == "BAD_USER_INPUT"
    await api.ok(CANCEL, {"id": streaming["id"]}, token=alice)
    # Someone else's reply, and an id that does not exist.
    assert await code_of(api, CONTINUE, {"id": streaming["id"]}, bob) == "NOT_FOUND"
    assert await code_of(api, CONTINUE, {"id": "999999"}, alice) == "NOT_FOUND"
    # An unknown model: nothing changes.
    variables = {"id": streaming["id"], "model": "no-such-model"}
    assert await code_of(api, CONTINUE, variables, alice) == "BAD_USER_INPUT"
    row = await message(api, alice, streaming["id"])
    assert row["status"] == "CANCELLED"
    assert len(fake_model.chat_requests) == requests + 1
    assert (await message(api, alice, complete["id"]))["content"] == "Echo: Finished"


async def test_a_continuation_the_model_server_refuses_keeps_the_text_so_far(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    partial = await ended_early(api, alice, fake_model, "length")
    fake_model.continuations["Tell"] = Reply(status=500, error_message="out of memory")
    failed = (await api.ok(CONTINUE, {"id": partial["id"], "wait": True}, token=alice))[
        "continueGeneration"
    ]
    assert failed["status"] == "FAILED"
    assert "out of memory" in failed["error"]
    assert failed["content"] == partial["content"]
    # FAILED can be continued in turn, once the server is well again.
    fake_model.continuations["Tell"] = Reply(content=" Done.")
    again = (await api.ok(CONTINUE, {"id": partial["id"], "wait": True}, token=alice))[
        "continueGeneration"
    ]
    assert (again["status"], again["content"]) == ("COMPLETE", partial["content"] + " Done.")

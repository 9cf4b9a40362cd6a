"""Another model for one reply: prompt, regenerate and continueGeneration take `model`,
the reply keeps its name, and comparing models is regenerating with another one."""

from __future__ import annotations

from tests.api.controls import CONTINUE, PROMPT, REGENERATE, code_of, create, message
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api

SIBLINGS = """
query($id: ID!) {
  message(id: $id) { siblingIndex siblingCount model conversation { model } }
}
"""
COUNT = "query($id: ID!) { conversation(id: $id) { messageCount } }"


async def test_prompt_with_another_model_writes_that_reply_with_it(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "Start")
    assert payload["assistantMessage"]["model"] == "test-model"
    variables = {
        "parent": payload["assistantMessage"]["id"],
        "c": "Your turn",
        "model": "other-model",
        "wait": True,
    }
    reply = (await api.ok(PROMPT, variables, token=alice))["prompt"]["assistantMessage"]
    assert reply["model"] == "other-model"
    assert fake_model.chat_requests[-1]["model"] == "other-model"
    found = (await api.ok(SIBLINGS, {"id": reply["id"]}, token=alice))["message"]
    assert found["conversation"]["model"] == "test-model"  # the conversation keeps its own


async def test_regenerating_with_another_model_gives_a_sibling_to_compare(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    first = (await create(api, alice, "Compare"))["assistantMessage"]
    variables = {"id": first["id"], "model": "other-model", "wait": True}
    second = (await api.ok(REGENERATE, variables, token=alice))["regenerate"]
    assert second["model"] == "other-model"
    assert fake_model.chat_requests[-1]["model"] == "other-model"
    found = (await api.ok(SIBLINGS, {"id": second["id"]}, token=alice))["message"]
    assert (found["siblingIndex"], found["siblingCount"]) == (2, 2)
    assert (await message(api, alice, first["id"]))["model"] == "test-model"


async def test_continuing_with_another_model_names_it_on_the_reply(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Cut"] = Reply(content="Half of it", finish_reason="length")
    partial = (await create(api, alice, "Cut"))["assistantMessage"]
    variables = {"id": partial["id"], "model": "other-model", "wait": True}
    continued = (await api.ok(CONTINUE, variables, token=alice))["continueGeneration"]
    assert continued["model"] == "other-model"
    assert fake_model.chat_requests[-1]["model"] == "other-model"
    assert continued["content"] == "Half of it" + fake_model.continuation


async def test_an_unknown_model_is_refused_and_nothing_is_stored(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "Base")
    conversation = payload["conversation"]["id"]
    reply = payload["assistantMessage"]["id"]
    requests = len(fake_model.chat_requests)
    bad = "no-such-model"
    prompt = {"parent": reply, "c": "x", "model": bad}
    assert await code_of(api, PROMPT, prompt, alice) == "BAD_USER_INPUT"
    assert await code_of(api, REGENERATE, {"id": reply, "model": bad}, alice) == "BAD_USER_INPUT"
    assert await code_of(api, REGENERATE, {"id": reply, "model": ""}, alice) == "BAD_USER_INPUT"
    count = (await api.ok(COUNT, {"id": conversation}, token=alice))["conversation"]
    assert count["messageCount"] == 3
    assert len(fake_model.chat_requests) == requests


async def test_the_other_users_messages_are_not_found_with_a_model_too(
    api: Api, alice: str, bob: str
) -> None:
    reply = (await create(api, alice, "Private"))["assistantMessage"]["id"]
    variables = {"id": reply, "model": "other-model"}
    assert await code_of(api, REGENERATE, variables, bob) == "NOT_FOUND"
    prompt = {"parent": reply, "c": "x", "model": "other-model"}
    assert await code_of(api, PROMPT, prompt, bob) == "NOT_FOUND"

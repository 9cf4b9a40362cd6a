"""Generation settings: set per conversation, checked, sent upstream with every reply
and title, and the context window's default learned from the model server."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.controls import (
    CONVERSATION,
    PROMPT,
    UPDATE_SETTINGS,
    code_of,
    create,
)
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api

COUNT = "query { conversations { edges { node { id } } } }"


@pytest.fixture(autouse=True)
def uncalibrated(fake_model: FakeModelServer) -> None:
    """What fits is by the stored estimates alone: no usage calibrates them here."""
    fake_model.default_reply = lambda last: Reply(content=f"Echo: {last}", usage=False)


async def settings_of(api: Api, token: str, conversation: str) -> dict[str, Any]:
    found = await api.ok(CONVERSATION, {"id": conversation}, token=token)
    settings: dict[str, Any] = found["conversation"]["settings"]
    return settings


async def test_settings_reach_the_model_server_with_every_reply_and_the_title(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    settings = {"temperature": 0.3, "topP": 0.9, "maxTokens": 200}
    payload = await create(api, alice, "Tune me", settings=settings, title=None)
    conversation = payload["conversation"]["id"]
    body = fake_model.chat_requests[-1]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 200)
    await fake_model.wait_for_requests(2)
    title = next(b for b in fake_model.requests if not b.get("stream"))
    assert (title["temperature"], title["top_p"], title["max_tokens"]) == (0.3, 0.9, 32)

    changed = await api.ok(
        UPDATE_SETTINGS, {"id": conversation, "s": {"temperature": 1.5}}, token=alice
    )
    assert changed["updateConversationSettings"]["settings"] == {
        "temperature": 1.5,
        "topP": 0.9,
        "maxTokens": 200,
        "contextTokens": 8192,
    }
    parent = payload["assistantMessage"]["id"]
    await api.ok(PROMPT, {"parent": parent, "c": "Again", "wait": True}, token=alice)
    body = fake_model.chat_requests[-1]
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.5, 0.9, 200)


async def test_an_explicit_null_resets_a_setting_and_nothing_is_sent_for_it(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "Reset", settings={"temperature": 0.1, "maxTokens": 9})
    conversation = payload["conversation"]["id"]
    reset = {"temperature": None, "maxTokens": None}
    await api.ok(UPDATE_SETTINGS, {"id": conversation, "s": reset}, token=alice)
    assert await settings_of(api, alice, conversation) == {
        "temperature": None,
        "topP": None,
        "maxTokens": None,
        "contextTokens": 8192,
    }
    parent = payload["assistantMessage"]["id"]
    await api.ok(PROMPT, {"parent": parent, "c": "Plain", "wait": True}, token=alice)
    assert not {"temperature", "top_p", "max_tokens"} & set(fake_model.chat_requests[-1])


async def test_a_smaller_context_window_sends_less_of_the_branch(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "x" * 400)
    parent = payload["assistantMessage"]["id"]
    await api.ok(
        UPDATE_SETTINGS,
        {"id": payload["conversation"]["id"], "s": {"contextTokens": 256, "maxTokens": 100}},
        token=alice,
    )
    await api.ok(PROMPT, {"parent": parent, "c": "Short", "wait": True}, token=alice)
    sent = fake_model.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]
    assert sent[-1]["content"] == "Short"


BAD_SETTINGS = [
    {"temperature": -0.1},
    {"temperature": 2.01},
    {"topP": -0.5},
    {"topP": 1.5},
    {"maxTokens": 0},
    {"contextTokens": 255},
    {"maxTokens": 8192},  # no room left for the prompt in the default window
    {"contextTokens": 300, "maxTokens": 300},
]


@pytest.mark.parametrize("bad", BAD_SETTINGS, ids=[str(b) for b in BAD_SETTINGS])
async def test_settings_out_of_range_are_refused_and_change_nothing(
    api: Api, alice: str, fake_model: FakeModelServer, bad: dict[str, Any]
) -> None:
    payload = await create(api, alice, "Keep", settings={"temperature": 0.5})
    conversation = payload["conversation"]["id"]
    before = await settings_of(api, alice, conversation)
    variables = {"id": conversation, "s": bad}
    assert await code_of(api, UPDATE_SETTINGS, variables, alice) == "BAD_USER_INPUT"
    assert await settings_of(api, alice, conversation) == before
    # createConversation refuses them the same way, and stores nothing.
    requests = len(fake_model.chat_requests)
    from tests.api.controls import CREATE

    assert await code_of(api, CREATE, {"c": "New", "settings": bad}, alice) == "BAD_USER_INPUT"
    assert len((await api.ok(COUNT, token=alice))["conversations"]["edges"]) == 1
    assert len(fake_model.chat_requests) == requests


async def test_the_other_users_conversation_is_not_found(api: Api, alice: str, bob: str) -> None:
    conversation = (await create(api, alice, "Mine"))["conversation"]["id"]
    variables = {"id": conversation, "s": {"temperature": 1.0}}
    assert await code_of(api, UPDATE_SETTINGS, variables, bob) == "NOT_FOUND"
    assert (await settings_of(api, alice, conversation))["temperature"] is None
    assert await code_of(api, UPDATE_SETTINGS, {"id": "nope", "s": {}}, alice) == "NOT_FOUND"


@pytest.fixture
def fake_model(fake_model: FakeModelServer, request: pytest.FixtureRequest) -> FakeModelServer:
    report = getattr(request, "param", None)
    if report is not None:
        fake_model.context_report = report
        fake_model.contexts = {"test-model": 300, "other-model": 65536}
    return fake_model


@pytest.mark.parametrize("fake_model", ["vllm", "llamacpp", "ollama"], indirect=True)
async def test_the_context_window_defaults_to_what_the_model_server_reports(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "x" * 200)
    conversation = payload["conversation"]["id"]
    assert (await settings_of(api, alice, conversation))["contextTokens"] == 300
    # 300 tokens, half kept for the reply: the first turn no longer fits beside the next.
    parent = payload["assistantMessage"]["id"]
    await api.ok(PROMPT, {"parent": parent, "c": "Next", "wait": True}, token=alice)
    assert [m["role"] for m in fake_model.chat_requests[-1]["messages"]] == ["system", "user"]
    # A setting overrides what the server reports.
    changed = await api.ok(
        UPDATE_SETTINGS, {"id": conversation, "s": {"contextTokens": 4000}}, token=alice
    )
    assert changed["updateConversationSettings"]["settings"]["contextTokens"] == 4000


async def test_a_failing_probe_leaves_the_configured_window_and_prompts_work(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.models_status = 500
    payload = await create(api, alice, "Still here")
    assert payload["assistantMessage"]["status"] == "COMPLETE"
    settings = await settings_of(api, alice, payload["conversation"]["id"])
    assert settings["contextTokens"] == 8192

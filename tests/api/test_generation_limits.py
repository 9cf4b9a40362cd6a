"""Per-user limits on starting replies: MAX_STREAMS_PER_USER replies generating at once,
PROMPTS_PER_MINUTE replies started per minute. Past either, createConversation, prompt
and regenerate answer RATE_LIMITED with retryAfter and store nothing."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from chattree.db.models import Conversation, Message
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.ws import CREATE, final_message, start_reply

MAX_STREAMS = 2
PROMPTS = 3

PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c) { assistantMessage { id status } }
}
"""
REGENERATE = "mutation($id: ID!) { regenerate(messageId: $id) { id status } }"
CANCEL = "mutation($id: ID!) { cancelGeneration(messageId: $id) { status } }"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {
        **server_env,
        "MAX_STREAMS_PER_USER": str(MAX_STREAMS),
        "PROMPTS_PER_MINUTE": str(PROMPTS),
        # Held replies stay STREAMING until the test lets them go.
        "MODEL_FIRST_TOKEN_TIMEOUT": "60",
        "MODEL_IDLE_TIMEOUT": "60",
    }


@pytest.fixture
def held(fake_model: FakeModelServer) -> None:
    """Every reply stalls before its first token until it is cancelled."""
    fake_model.default_reply = Reply(stall_after=0)


async def stored_rows(api: Api) -> tuple[int, int]:
    """(conversations, messages) as the database holds them."""
    async with api.services.db.reader() as session:
        conversations = await session.scalar(select(func.count(Conversation.id)))
        messages = await session.scalar(select(func.count(Message.id)))
    return conversations or 0, messages or 0


async def assert_no_reply_starts(
    api: Api,
    token: str,
    user_message: str,
    reply: str,
    words: str,
    *,
    retry_after: int | None = None,
) -> None:
    """createConversation, prompt and regenerate all answer RATE_LIMITED, saying `words`
    and when to retry, and store nothing."""
    before = await stored_rows(api)
    for query, variables in (
        (CREATE, {"c": "One more"}),
        (PROMPT, {"parent": reply, "c": "One more"}),
        (REGENERATE, {"id": user_message}),
    ):
        error = await api.fails(query, variables, token=token)
        assert error["extensions"]["code"] == "RATE_LIMITED", error
        assert words in error["message"], error
        wait = error["extensions"]["retryAfter"]
        assert isinstance(wait, int) and 1 <= wait <= 60
        assert retry_after is None or wait == retry_after
    assert await stored_rows(api) == before


@pytest.mark.usefixtures("held")
async def test_a_user_at_the_stream_cap_cannot_start_another_reply(
    api: Api, alice: str, bob: str
) -> None:
    running = [await start_reply(api, alice, f"Hold {n}") for n in range(MAX_STREAMS)]
    user_message, reply = running[0]
    words = "2 of your replies are being generated, the most at once is 2"
    await assert_no_reply_starts(api, alice, user_message, reply, words)
    # Another user's replies are counted apart.
    await start_reply(api, bob, "Mine")


@pytest.mark.usefixtures("held")
async def test_a_reply_that_ends_makes_room_for_the_next(api: Api, alice: str) -> None:
    running = [await start_reply(api, alice, f"Hold {n}") for n in range(MAX_STREAMS)]
    error = await api.fails(CREATE, {"c": "One more"}, token=alice)
    assert error["extensions"]["code"] == "RATE_LIMITED"
    await api.ok(CANCEL, {"id": running[0][1]}, token=alice)
    await start_reply(api, alice, "Now there is room")


@pytest.mark.usefixtures("held")
async def test_concurrent_prompts_of_one_user_never_pass_the_stream_cap(
    api: Api, alice: str
) -> None:
    results = await asyncio.gather(
        *(api.post(CREATE, {"c": f"Race {n}"}, token=alice) for n in range(8))
    )
    started = [r for r in results if not r.get("errors")]
    refused = [r["errors"][0] for r in results if r.get("errors")]
    assert len(started) == MAX_STREAMS
    assert {e["extensions"]["code"] for e in refused} == {"RATE_LIMITED"}
    # Each conversation holds a root, a user message and a reply.
    assert await stored_rows(api) == (MAX_STREAMS, 3 * MAX_STREAMS)


async def test_prompts_beyond_the_per_minute_limit_are_turned_away(
    api: Api, alice: str, bob: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit's clock stands still, so the minute cannot roll over mid-test.
    monkeypatch.setattr(api.services.conversations.limits.prompts, "clock", lambda: 1.8e9)
    user_message, reply = await start_reply(api, alice, "First")
    await final_message(api, alice, reply)
    for n in range(PROMPTS - 1):
        data = await api.ok(PROMPT, {"parent": reply, "c": f"Again {n}"}, token=alice)
        await final_message(api, alice, data["prompt"]["assistantMessage"]["id"])
    words = "too many prompts; try again in 60 s"
    await assert_no_reply_starts(api, alice, user_message, reply, words, retry_after=60)
    await start_reply(api, bob, "Mine")


async def test_a_prompt_that_fails_for_another_reason_is_not_counted(
    api: Api, alice: str, bob: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api.services.conversations.limits.prompts, "clock", lambda: 1.8e9)
    _, bobs_reply = await start_reply(api, bob, "Mine")
    for _ in range(PROMPTS + 2):
        error = await api.fails(PROMPT, {"parent": bobs_reply, "c": "Not yours"}, token=alice)
        assert error["extensions"]["code"] == "NOT_FOUND"
    for n in range(PROMPTS):
        _, reply = await start_reply(api, alice, f"Mine {n}")
        await final_message(api, alice, reply)

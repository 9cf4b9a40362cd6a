"""The npm graphql-sse client follows messageStream at /graphql/stream."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api
from tests.js_clients import require_node_modules, run_script
from tests.ws import (
    assert_well_formed,
    content_of,
    message,
    reasoning_of,
    start_reply,
    until,
)


@pytest.fixture(autouse=True)
def graphql_sse() -> None:
    require_node_modules("graphql-sse")


async def follow(api: Api, token: str, message_id: str) -> list[dict[str, Any]]:
    return await run_script("sse_stream.mjs", f"{api.url}/graphql/stream", token, message_id)


async def test_the_graphql_sse_client_streams_a_reply_exactly(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    words = " ".join(f"word{i}" for i in range(60))
    # Held after two chunks until the client is subscribed, or a slow Node start-up could
    # find the reply already over and get it as one snapshot.
    gate = Gate(allowed=2)
    fake_model.replies["Stream"] = Reply(
        content=words, reasoning="Thinking it over. " * 2, delay=0.01, chunk_size=7, gate=gate
    )
    _, reply_id = await start_reply(api, alice, "Stream")
    following = asyncio.create_task(follow(api, alice, reply_id))
    await until(lambda: api.services.broker.subscriber_count(int(reply_id)) == 1)
    gate.open()
    lines = await following
    assert lines[-1] == {"complete": True}
    events = [line["data"]["messageStream"] for line in lines[:-1]]
    assert_well_formed(events, "COMPLETE")
    stored = await message(api, alice, reply_id)
    assert content_of(events) == stored["content"] == words
    assert reasoning_of(events) == stored["reasoning"] == "Thinking it over. " * 2
    assert len(events) > 2, "the reply arrived in one piece, not streamed"


async def test_the_graphql_sse_client_gets_not_found_for_another_users_message(
    api: Api, alice: str, bob: str
) -> None:
    _, bobs = await start_reply(api, bob, "Bob's secret")
    lines = await follow(api, alice, bobs)
    assert lines[-1] == {"complete": True}
    errors = lines[0]["errors"]
    assert errors[0]["extensions"]["code"] == "NOT_FOUND"
    assert "Bob's secret" not in str(lines)

"""Live replies through nginx configured as docs/deployment.md says: tokens pass as they
come over websockets, Server-Sent Events and multipart responses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api, Client
from tests.http_streams import multipart_results, sse_results
from tests.nginx import running_nginx
from tests.ws import (
    STREAM,
    TIMEOUT,
    assert_well_formed,
    connect,
    content_of,
    message,
    next_event,
    start_reply,
    stream_events,
    subscribe_stream,
)

CANCEL = "mutation($id: ID!) { cancelGeneration(messageId: $id) { status } }"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # A stalled model keeps its reply STREAMING until the test cancels it.
    return {**server_env, "MODEL_IDLE_TIMEOUT": "60"}


@pytest.fixture
async def proxy(api: Api) -> AsyncIterator[Client]:
    async with running_nginx(api.url.removeprefix("http://")) as url:
        yield Client(url=url, http=api.http)


def stalled(fake_model: FakeModelServer, prompt: str) -> None:
    """The reply to `prompt` sends three chunks, then nothing until it is cancelled."""
    fake_model.replies[prompt] = Reply(content="one two three four five", stall_after=3)


@pytest.mark.parametrize("transport", ["sse", "multipart"])
async def test_http_subscriptions_through_nginx_are_not_buffered(
    api: Api, proxy: Client, alice: str, fake_model: FakeModelServer, transport: str
) -> None:
    stalled(fake_model, "Stall")
    _, reply_id = await start_reply(api, alice, "Stall")
    results = multipart_results if transport == "multipart" else sse_results
    events: list[dict[str, Any]] = []
    # A buffering proxy would hold the first event until the stream ends, which only
    # the cancel after it makes happen: the wait would run out.
    async with asyncio.timeout(TIMEOUT):
        async for payload in results(proxy, STREAM, {"id": reply_id}, token=alice):
            events.append(payload["data"]["messageStream"])
            if len(events) == 1:
                assert events[0]["status"] == "STREAMING"
                await proxy.ok(CANCEL, {"id": reply_id}, token=alice)
    assert_well_formed(events, "CANCELLED")
    assert content_of(events) == (await message(api, alice, reply_id))["content"] != ""


async def test_websockets_through_nginx_stream_live(
    api: Api, proxy: Client, alice: str, fake_model: FakeModelServer
) -> None:
    stalled(fake_model, "Stall")
    _, reply_id = await start_reply(api, alice, "Stall")
    async with connect(proxy.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, reply_id)
        first = await next_event(operation)
        assert first["status"] == "STREAMING"
        await proxy.ok(CANCEL, {"id": reply_id}, token=alice)
        events = [first, *await stream_events(operation)]
    assert_well_formed(events, "CANCELLED")
    assert content_of(events) == (await message(api, alice, reply_id))["content"]

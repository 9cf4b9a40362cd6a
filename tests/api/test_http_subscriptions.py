"""messageStream over plain HTTP: Apollo's multipart protocol at /graphql and
GraphQL over Server-Sent Events at /graphql/stream, with the websocket exactness rules."""

from __future__ import annotations

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.http_streams import multipart_results, sse_results, stream_over
from tests.ws import (
    OperationFailed,
    assert_well_formed,
    content_of,
    final_message,
    message,
    published,
    reasoning_of,
    start_reply,
    until,
)

TRANSPORTS = ("multipart", "sse")
LONG = " ".join(f"word{i}" for i in range(100))


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_reply_streams_to_completion_over_http(
    api: Api, alice: str, fake_model: FakeModelServer, transport: str
) -> None:
    fake_model.replies["Tell me"] = Reply(
        content=LONG[:200], reasoning="Let me think. " * 3, delay=0.01, chunk_size=5
    )
    _, reply_id = await start_reply(api, alice, "Tell me")
    events = await stream_over(transport, api, reply_id, token=alice)
    assert_well_formed(events, "COMPLETE")
    assert all(event["messageId"] == reply_id for event in events)
    stored = await message(api, alice, reply_id)
    assert content_of(events) == stored["content"] == LONG[:200]
    assert reasoning_of(events) == stored["reasoning"] == "Let me think. " * 3
    assert len(events) > 2, "the reply arrived in one piece, not streamed"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_late_subscriber_over_http_first_gets_the_text_so_far(
    api: Api, alice: str, fake_model: FakeModelServer, transport: str
) -> None:
    fake_model.replies["Slowly"] = Reply(content=LONG, delay=0.02, chunk_size=10)
    _, reply_id = await start_reply(api, alice, "Slowly")
    await until(lambda: published(api, reply_id) >= 100)
    so_far = published(api, reply_id)
    events = await stream_over(transport, api, reply_id, token=alice)
    assert len(events[0]["delta"]) >= so_far and not events[0]["done"]
    assert_well_formed(events, "COMPLETE")
    assert content_of(events) == (await message(api, alice, reply_id))["content"] == LONG


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_final_message_over_http_is_one_done_event(
    api: Api, alice: str, transport: str
) -> None:
    _, reply_id = await start_reply(api, alice, "Done already")
    await final_message(api, alice, reply_id)
    events = await stream_over(transport, api, reply_id, token=alice)
    assert len(events) == 1
    assert_well_formed(events, "COMPLETE")
    assert events[0]["delta"] == "Echo: Done already"


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("token", [None, "not-a-jwt"])
async def test_a_subscription_over_http_without_a_valid_token_is_unauthenticated(
    api: Api, alice: str, transport: str, token: str | None
) -> None:
    _, reply_id = await start_reply(api, alice, "Private")
    with pytest.raises(OperationFailed) as failed:
        await stream_over(transport, api, reply_id, token=token)
    assert failed.value.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_another_users_message_over_http_is_not_found(
    api: Api, alice: str, bob: str, transport: str
) -> None:
    _, bobs = await start_reply(api, bob, "Bob's secret")
    for message_id in (bobs, "999999", "abc"):
        with pytest.raises(OperationFailed) as failed:
            await stream_over(transport, api, message_id, token=alice)
        assert failed.value.code == "NOT_FOUND"
        assert "Bob's secret" not in str(failed.value.errors)
    assert (await final_message(api, bob, bobs))["content"] == "Echo: Bob's secret"


async def test_queries_and_mutations_also_run_over_sse(api: Api, alice: str) -> None:
    results = [r async for r in sse_results(api, "{ me { username } }", {}, token=alice)]
    assert results == [{"data": {"me": {"username": "alice"}}}]


async def test_a_query_with_apollos_accept_header_gets_plain_json(api: Api, alice: str) -> None:
    # Apollo Client sends this on every query; only subscriptionSpec asks for multipart.
    async with api.http.post(
        f"{api.url}/graphql",
        json={"query": "{ me { username } }"},
        headers={
            "Authorization": f"Bearer {alice}",
            "Accept": "multipart/mixed;deferSpec=20220824,application/json",
        },
    ) as response:
        assert response.content_type == "application/json"
        assert await response.json() == {"data": {"me": {"username": "alice"}}}


async def test_multipart_carries_only_subscriptions(api: Api, alice: str) -> None:
    results = [r async for r in multipart_results(api, "{ __typename }", {}, token=alice)]
    assert results and all(r.get("errors") for r in results)

"""messageStream: live replies over websockets, joined at any point, in one process."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest

from chattree.broker import Subscription
from chattree.settings import Settings
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api, of_requests, running_server
from tests.ws import (
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    assert_well_formed,
    connect,
    content_of,
    final_message,
    message,
    next_event,
    published,
    reasoning_of,
    start_reply,
    stream_events,
    subscribe_stream,
    until,
)

# About 600 characters: 60 chunks of 10, 1.2 s at delay=0.02.
LONG = " ".join(f"word{i}" for i in range(100))


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_reply_streams_to_completion_over_both_subprotocols(
    api: Api, alice: str, fake_model: FakeModelServer, protocol: str
) -> None:
    gate = Gate()
    fake_model.replies["Tell me"] = Reply(content=LONG[:200], delay=0.01, chunk_size=5, gate=gate)
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        _, reply_id = await start_reply(api, alice, "Tell me")
        operation = await subscribe_stream(ws, reply_id)
        first = await next_event(operation)  # subscribed before any text
        gate.open()
        events = [first, *await stream_events(operation)]
    assert_well_formed(events, "COMPLETE")
    assert all(event["messageId"] == reply_id for event in events)
    assert events[-1]["error"] is None
    stored = await message(api, alice, reply_id)
    assert stored["status"] == "COMPLETE"
    assert stored["content"] == LONG[:200]
    assert content_of(events) == stored["content"]
    assert len(events) > 2, "the reply arrived in one piece, not streamed"


async def test_a_late_subscriber_first_gets_the_text_so_far_then_the_rest(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    gate = Gate(10)
    fake_model.replies["Slowly"] = Reply(content=LONG, delay=0.02, chunk_size=10, gate=gate)
    _, reply_id = await start_reply(api, alice, "Slowly")
    await until(lambda: published(api, reply_id) >= 100)
    so_far = published(api, reply_id)
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, reply_id)
        first = await next_event(operation)
        gate.open()
        rest = await stream_events(operation)
    assert first["status"] == "STREAMING" and not first["done"]
    assert len(first["delta"]) >= so_far
    assert LONG.startswith(first["delta"])
    events = [first, *rest]
    assert_well_formed(events, "COMPLETE")
    assert content_of(events) == (await message(api, alice, reply_id))["content"] == LONG


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resubscribing_mid_stream_gives_the_whole_text_again(
    api: Api, alice: str, fake_model: FakeModelServer, protocol: str
) -> None:
    gate = Gate()
    fake_model.replies["Again"] = Reply(content=LONG, chunk_size=10, gate=gate)
    _, reply_id = await start_reply(api, alice, "Again")
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        dropped = await subscribe_stream(ws, reply_id)
        seen = [await next_event(dropped)]
        gate.release()
        seen.append(await next_event(dropped))
        await dropped.stop()
        await until(lambda: api.services.broker.subscriber_count(int(reply_id)) == 0)
        gate.release(5)
        await until(lambda: published(api, reply_id) > len(content_of(seen)))
        operation = await subscribe_stream(ws, reply_id)
        events = [await next_event(operation)]
        gate.open()
        events += await stream_events(operation)
    assert LONG.startswith(content_of(seen))
    assert_well_formed(events, "COMPLETE")
    assert len(events[0]["delta"]) > len(content_of(seen))
    assert content_of(events) == (await message(api, alice, reply_id))["content"] == LONG


async def test_resubscribing_on_a_new_connection_after_a_drop_gives_the_whole_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Reconnect"] = Reply(content=LONG, delay=0.02, chunk_size=10)
    _, reply_id = await start_reply(api, alice, "Reconnect")
    async with connect(api.ws_url, token=alice) as first:
        await next_event(await subscribe_stream(first, reply_id))
        first.abort()
    async with connect(api.ws_url, token=alice) as second:
        events = await stream_events(await subscribe_stream(second, reply_id))
    assert_well_formed(events, "COMPLETE")
    assert content_of(events) == (await message(api, alice, reply_id))["content"] == LONG


@pytest.mark.parametrize(
    ("think_tags", "field"),
    [(False, "reasoning_content"), (False, "reasoning"), (True, "")],
    ids=["reasoning_content", "reasoning", "think_tags"],
)
async def test_reasoning_streams_apart_from_the_content(
    api: Api, alice: str, fake_model: FakeModelServer, think_tags: bool, field: str
) -> None:
    reasoning = "The user greets me. " * 6
    content = "Hello! How can I help you today?"
    # chunk_size=3 cuts both "<think>" and "</think>" across chunks.
    fake_model.replies["Think"] = Reply(
        content=content,
        reasoning=reasoning,
        reasoning_field=field,
        think_tags=think_tags,
        delay=0.01,
        chunk_size=3,
    )
    _, reply_id = await start_reply(api, alice, "Think")
    await until(lambda: published(api, reply_id) >= 20)
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    assert_well_formed(events, "COMPLETE")
    assert len(events[0]["reasoningDelta"]) >= 20
    stored = await message(api, alice, reply_id)
    assert stored["reasoning"] == reasoning
    assert stored["content"] == content
    assert reasoning_of(events) == reasoning
    assert content_of(events) == content
    # Once final, one event carries both.
    async with connect(api.ws_url, token=alice) as ws:
        (event,) = await stream_events(await subscribe_stream(ws, reply_id))
    assert (event["delta"], event["reasoningDelta"], event["done"]) == (content, reasoning, True)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribing_to_a_final_message_yields_exactly_one_done_event(
    api: Api, alice: str, protocol: str
) -> None:
    user_id, reply_id = await start_reply(api, alice, "Done already")
    await final_message(api, alice, reply_id)
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        for message_id, content in ((reply_id, "Echo: Done already"), (user_id, "Done already")):
            events = await stream_events(await subscribe_stream(ws, message_id))
            assert events == [
                {
                    "messageId": message_id,
                    "delta": content,
                    "reasoningDelta": "",
                    "status": "COMPLETE",
                    "done": True,
                    "error": None,
                }
            ]


async def test_a_final_message_is_read_once_for_its_subscriber(api: Api, alice: str) -> None:
    _, reply_id = await start_reply(api, alice, "Done already")
    await final_message(api, alice, reply_id)
    async with connect(api.ws_url, token=alice) as ws, api.counting_statements() as seen:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    assert [event["done"] for event in events] == [True]
    # The token's user, then the message with its owner: the row that answers.
    assert len(of_requests(seen)) == 2, "\n".join(of_requests(seen))


async def test_a_reply_is_generated_when_nobody_subscribes(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Alone"] = Reply(content="Nobody listens to me.", delay=0.01)
    _, reply_id = await start_reply(api, alice, "Alone")
    stored = await final_message(api, alice, reply_id)
    assert stored["status"] == "COMPLETE"
    assert stored["content"] == "Nobody listens to me."
    assert api.services.broker.subscriber_count(int(reply_id)) == 0


async def test_a_client_disconnecting_mid_stream_does_not_stop_the_reply(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    gate = Gate()
    fake_model.replies["Leave"] = Reply(content=LONG[:300], delay=0.01, chunk_size=5, gate=gate)
    _, reply_id = await start_reply(api, alice, "Leave")
    async with connect(api.ws_url, token=alice) as ws:
        first = await next_event(await subscribe_stream(ws, reply_id))
        assert first["status"] == "STREAMING"
        ws.abort()
    gate.open()
    stored = await final_message(api, alice, reply_id)
    assert stored["status"] == "COMPLETE"
    assert stored["content"] == LONG[:300]
    assert fake_model.disconnects == 0
    # The server let go of the dropped subscription.
    await until(lambda: api.services.broker.subscriber_count(int(reply_id)) == 0)
    await until(lambda: api.services.generations.followers == 0)


@pytest.fixture
async def patient_api(server_env: dict[str, str]) -> AsyncIterator[Api]:
    """The server without websocket keep-alive pings: a client that stops reading stays
    stalled, not dead, however long a loaded machine makes the test take."""
    async with running_server(Settings.from_env(server_env), ws_ping_interval=None) as api:
        yield api


@pytest.mark.timeout(180)  # 151 websocket clients: room for a heavily loaded machine
async def test_a_stalled_subscriber_neither_holds_back_the_others_nor_grows_memory(
    patient_api: Api, fake_model: FakeModelServer
) -> None:
    api = patient_api
    alice = await api.register("alice")
    broker = api.services.broker
    # A small bound makes the stalled subscriber overflow within a short reply.
    broker.queue_size = 4
    created: list[Subscription] = []
    overflowed: set[Subscription] = set()
    subscribe = broker.subscribe

    def recording_subscribe(message_id: int) -> Subscription:
        subscription = subscribe(message_id)
        created.append(subscription)
        resync = subscription.resync

        def recording_resync() -> None:
            overflowed.add(subscription)
            resync()

        subscription.resync = recording_resync  # type: ignore[method-assign]
        return subscription

    broker.subscribe = recording_subscribe  # type: ignore[method-assign]
    gate = Gate()
    fake_model.replies["Crowd"] = Reply(content=CROWD_TEXT, chunk_size=CHUNK, gate=gate)
    async with AsyncExitStack() as stack:
        stalled = await stack.enter_async_context(
            connect(api.ws_url, token=alice, read=False, receive_buffer=4096)
        )
        clients = [
            await stack.enter_async_context(
                connect(api.ws_url, token=alice, protocol=PROTOCOLS[index % 2])
            )
            for index in range(100)
        ]
        _, reply_id = await start_reply(api, alice, "Crowd")
        row_id = int(reply_id)
        # The stalled client does not read. Its operations select the text many times
        # over, so its socket and the server's send buffers fill up after a few events.
        heavy = [await stalled.subscribe(HEAVY, {"id": reply_id}) for _ in range(STALLED)]
        await until(lambda: broker.subscriber_count(row_id) == STALLED)
        stalled_subscriptions = set(created)
        operations = [await subscribe_stream(client, reply_id) for client in clients]
        await until(lambda: broker.subscriber_count(row_id) == STALLED + 100)
        # One chunk, so one event, at a time, until every stalled queue has overflowed:
        # however slow the machine, the overflow is observed, not hoped for.
        while not stalled_subscriptions <= overflowed:
            assert gate.sent < CHUNKS, "the stalled client kept up with the whole reply"
            before = published(api, reply_id)
            gate.release()
            await until(lambda: published(api, reply_id) > before)  # noqa: B023
        gate.open()
        results = await asyncio.gather(*(stream_events(op, timeout=60) for op in operations))
        stored = await final_message(api, alice, reply_id)
        assert stored["content"] == CROWD_TEXT
        for events in results:
            assert_well_formed(events, "COMPLETE")
            assert content_of(events) == CROWD_TEXT
        assert len(created) == STALLED + 100
        for subscription in created:
            assert subscription._queue.maxsize == broker.queue_size
            assert subscription._queue.qsize() <= broker.queue_size
        # Once it reads again, the stalled client catches up from the stored reply.
        stalled.start_reading()
        for operation in heavy:
            events = [data["messageStream"] for data in await operation.collect(timeout=60)]
            assert_well_formed(events, "COMPLETE")
            assert all("".join(e[f"d{i}"] for e in events) == CROWD_TEXT for i in range(48))
    await until(lambda: broker.subscriber_count(row_id) == 0)
    await until(lambda: api.services.generations.followers == 0)


# Each chunk is its own event (the test lets one through at a time). The stalled client
# overflows after a few; the rest is headroom that a correct server never needs.
CHUNK = 200
CHUNKS = 30
CROWD_TEXT = "".join(f"{i:04d}" + "x" * (CHUNK - 4) for i in range(CHUNKS))
# 50 operations selecting the delta 48 times: each event sends the stalled client about
# 500 KB, more than the kernel and the server buffer after a few events.
STALLED = 50
HEAVY = (
    "subscription($id: ID!) { messageStream(messageId: $id) { status done "
    + " ".join(f"d{i}: delta" for i in range(48))
    + " } }"
)


async def test_subscribing_again_and_again_at_any_point_always_adds_up(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    text = "".join(f"<{i}>" for i in range(200))
    fake_model.replies["Storm"] = Reply(content=text, delay=0.003, chunk_size=4)
    _, reply_id = await start_reply(api, alice, "Storm")
    rng = random.Random(7)
    async with (
        connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as one,
        connect(api.ws_url, token=alice, protocol=LEGACY_WS) as other,
    ):
        for attempt in range(30):
            operation = await subscribe_stream(one if attempt % 2 else other, reply_id)
            seen = []
            for _ in range(rng.randint(1, 4)):
                seen.append(await next_event(operation))
                if seen[-1]["done"]:
                    break
            if seen[-1]["done"]:
                assert_well_formed(seen, "COMPLETE")
                assert content_of(seen) == text
            else:
                assert text.startswith(content_of(seen))
                await operation.stop()
        # However far the reply got meanwhile, one more subscription adds up to all of it.
        events = await stream_events(await subscribe_stream(one, reply_id))
    assert_well_formed(events, "COMPLETE")
    assert content_of(events) == text
    assert (await message(api, alice, reply_id))["content"] == text


async def test_unusual_characters_and_one_huge_chunk_arrive_intact(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    odd = 'é漢字🙂 "quoted" \\ back\\slash\n\ttab\u200b\x01 e\u0301 '
    huge = odd * 300  # about 10,000 characters in a single chunk
    fake_model.replies["Odd"] = Reply(content=odd * 3, delay=0.01, chunk_size=1)
    fake_model.replies["Huge"] = Reply(content=huge, chunk_size=len(huge))
    async with connect(api.ws_url, token=alice) as ws:
        for prompt, expected in (("Odd", odd * 3), ("Huge", huge)):
            _, reply_id = await start_reply(api, alice, prompt)
            events = await stream_events(await subscribe_stream(ws, reply_id))
            assert_well_formed(events, "COMPLETE")
            assert content_of(events) == expected
            assert (await message(api, alice, reply_id))["content"] == expected


async def test_a_model_slower_to_start_than_the_idle_timeout_still_answers(
    server_env: dict[str, str], fake_model: FakeModelServer
) -> None:
    env = {**server_env, "MODEL_IDLE_TIMEOUT": "2", "MODEL_FIRST_TOKEN_TIMEOUT": "30"}
    fake_model.replies["Load"] = Reply(content="Loaded at last.", first_delay=2.3)
    async with running_server(Settings.from_env(env)) as api:
        alice = await api.register("alice")
        _, reply_id = await start_reply(api, alice, "Load")
        async with connect(api.ws_url, token=alice) as ws:
            events = await stream_events(await subscribe_stream(ws, reply_id))
    assert_well_formed(events, "COMPLETE")
    assert content_of(events) == "Loaded at last."


async def test_a_nul_character_from_the_model_is_replaced_so_the_reply_can_be_stored(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Nul"] = Reply(content="before\x00after", delay=0.01, chunk_size=3)
    _, reply_id = await start_reply(api, alice, "Nul")
    async with connect(api.ws_url, token=alice) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
    assert_well_formed(events, "COMPLETE")
    stored = await message(api, alice, reply_id)
    assert stored["content"] == content_of(events) == "before\ufffdafter"

"""How a reply batches its tokens into events: the first token after a quiet spell is
published at once, tokens that follow it within the batching period go out together."""

from __future__ import annotations

import asyncio

from chattree.broker import Event, MemoryBroker, Subscription
from chattree.db.models import Status
from chattree.services.generation.reply import COALESCE_CHARS, Reply

WITHIN = 30.0  # seconds: a bound against hanging, never a measure


async def next_event(subscription: Subscription) -> Event:
    async with asyncio.timeout(WITHIN):
        item = await subscription.get()
    assert isinstance(item, Event)
    return item


async def test_the_first_token_is_published_at_once_and_the_next_ones_batched() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    with broker.subscribe(7) as subscription:
        reply.add("Hel", "")
        # Published by add() itself, before anything else runs.
        assert (reply.seq, reply.content) == (1, "Hel")
        reply.add("lo", "")
        reply.add(", world", "")
        assert reply.seq == 1  # these wait for the batch
        first = await next_event(subscription)
        second = await next_event(subscription)  # the batch, when its period ends
    assert [(first.seq, first.delta), (second.seq, second.delta)] == [
        (1, "Hel"),
        (2, "lo, world"),
    ]


async def test_a_batch_past_its_size_is_published_without_waiting() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    reply.add("a", "")
    reply.add("b" * COALESCE_CHARS, "")
    assert (reply.seq, reply.content) == (2, "a" + "b" * COALESCE_CHARS)


async def test_finishing_publishes_what_waits_then_the_end() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    with broker.subscribe(7) as subscription:
        reply.add("one ", "")
        reply.add("two", "thinking")
        reply.finish(Status.COMPLETE, None)
        got = [await next_event(subscription) for _ in range(3)]
    assert [(e.seq, e.delta, e.reasoning_delta, e.done) for e in got] == [
        (1, "one ", "", False),
        (2, "two", "thinking", False),
        (3, "", "", True),
    ]

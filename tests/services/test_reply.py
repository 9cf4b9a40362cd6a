"""How a reply batches its tokens into events: text after a quiet spell is published as
soon as the tokens read with it are in; text that follows within the batching period
waits for it; a large batch goes out at once."""

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


async def test_text_after_a_quiet_spell_is_published_once_its_read_is_in() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    with broker.subscribe(7) as subscription:
        # Tokens of one read from the model: added in one step of the event loop.
        reply.add("Hel", "")
        reply.add("lo", "")
        assert reply.seq == 0  # not one event per token
        first = await next_event(subscription)  # without waiting out the batch period
        reply.add(", world", "")
        second = await next_event(subscription)
    assert [(first.seq, first.delta), (second.seq, second.delta)] == [
        (1, "Hello"),
        (2, ", world"),
    ]


async def test_a_batch_past_its_size_is_published_without_waiting() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    reply.add("a", "")
    reply.add("b" * COALESCE_CHARS, "")
    # Published by add() itself, before the event loop runs anything else.
    assert (reply.seq, reply.content) == (1, "a" + "b" * COALESCE_CHARS)


async def test_finishing_publishes_what_waits_then_the_end() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    with broker.subscribe(7) as subscription:
        reply.add("one ", "")
        reply.add("two", "thinking")
        reply.finish(Status.COMPLETE, None)
        got = [await next_event(subscription) for _ in range(2)]
    assert [(e.seq, e.delta, e.reasoning_delta, e.done) for e in got] == [
        (1, "one two", "thinking", False),
        (2, "", "", True),
    ]

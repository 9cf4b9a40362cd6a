"""How a reply batches its tokens into events: text after a quiet spell is published as
soon as the tokens read with it are in; text that follows within the batching period
waits for it, and the period grows with the reply's followers; a large batch goes out
at once."""

from __future__ import annotations

import asyncio

from chattree.broker import Event, MemoryBroker, Subscription
from chattree.db.models import Status
from chattree.services.generation.reply import (
    COALESCE_CHARS,
    COALESCE_MAX_SECONDS,
    COALESCE_SECONDS,
    FOLLOWER_SECONDS,
    Reply,
)

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


async def test_a_reply_with_many_followers_waits_longer_between_events() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    assert reply.period == COALESCE_SECONDS  # nobody follows it yet
    followers = [broker.subscribe(7) for _ in range(1000)]
    broker.subscribe(8)  # another reply's follower counts for that reply only
    assert reply.period == 1000 * FOLLOWER_SECONDS > COALESCE_SECONDS
    before = asyncio.get_running_loop().time()
    reply.add("first", "")
    reply.publish_pending()  # as after a quiet spell; no time passes before the next
    reply.add(" second", "")
    assert reply.due is not None
    assert reply.due >= before + 1000 * FOLLOWER_SECONDS
    assert [(await next_event(followers[0])).delta for _ in range(2)] == ["first", " second"]
    assert reply.due is None


async def test_up_to_a_few_hundred_followers_keep_the_shortest_period() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    for _ in range(100):
        broker.subscribe(7)
    assert reply.period == COALESCE_SECONDS


async def test_the_period_has_a_ceiling_however_many_follow() -> None:
    broker = MemoryBroker()
    reply = Reply(message_id=7, broker=broker)
    for _ in range(int(2 * COALESCE_MAX_SECONDS / FOLLOWER_SECONDS)):
        broker.subscribe(7)
    assert reply.period == COALESCE_MAX_SECONDS

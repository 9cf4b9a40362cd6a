"""The in-process broker: what every broker promises, on a single process."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from chattree.broker import (
    RESYNC,
    SILENCE,
    Change,
    Event,
    MemoryBroker,
    Notice,
    NoticeKind,
    Subscription,
)
from chattree.broker.base import decode, encode
from chattree.broker.changes import FEED_SIZE


async def _next_seq(subscription: Subscription) -> int:
    item = await subscription.get()
    assert isinstance(item, Event)
    return item.seq


async def test_events_reach_every_subscriber_of_their_message_in_order() -> None:
    broker = MemoryBroker()
    first, second = broker.subscribe(1), broker.subscribe(1)

    for seq in range(1, 4):
        broker.publish(Event(message_id=1, seq=seq, delta=str(seq)))

    for subscription in (first, second):
        assert [await subscription.get() for _ in range(3)] == [
            Event(message_id=1, seq=seq, delta=str(seq)) for seq in range(1, 4)
        ]


async def test_a_subscriber_of_another_message_gets_nothing() -> None:
    broker = MemoryBroker()
    other = broker.subscribe(2)

    broker.publish(Event(message_id=1, seq=1, delta="not yours"))
    broker.publish(Event(message_id=2, seq=1, delta="yours"))

    assert await other.get() == Event(message_id=2, seq=1, delta="yours")


async def test_cancel_and_flush_requests_go_to_on_request_and_not_to_subscribers() -> None:
    broker = MemoryBroker()
    requests: list[Notice] = []
    broker.on_request = requests.append
    subscription = broker.subscribe(7)

    broker.publish(Notice(NoticeKind.CANCEL, 7))
    broker.publish(Notice(NoticeKind.FLUSH, 7))
    broker.publish(Notice(NoticeKind.FLUSHED, 7, seq=3))

    assert requests == [Notice(NoticeKind.CANCEL, 7), Notice(NoticeKind.FLUSH, 7)]
    assert await subscription.get() == Notice(NoticeKind.FLUSHED, 7, seq=3)


async def test_a_failing_request_handler_is_logged_and_does_not_reach_the_publisher(
    caplog: pytest.LogCaptureFixture,
) -> None:
    broker = MemoryBroker()

    def fail(notice: Notice) -> None:
        raise RuntimeError("boom")

    broker.on_request = fail

    with caplog.at_level(logging.ERROR, logger="chattree.broker.base"):
        broker.publish(Notice(NoticeKind.CANCEL, 1))

    assert "boom" in caplog.text


async def test_a_subscriber_that_falls_behind_resyncs_without_blocking_the_publisher() -> None:
    broker = MemoryBroker(queue_size=4)
    slow = broker.subscribe(1)

    for seq in range(1, 11):
        broker.publish(Event(message_id=1, seq=seq))

    assert await slow.get() is RESYNC
    seqs = [await _next_seq(slow)]
    while seqs[-1] != 10:
        seqs.append(await _next_seq(slow))
    assert seqs == sorted(seqs)


async def test_unsubscribing_stops_delivery() -> None:
    broker = MemoryBroker()
    with broker.subscribe(1) as subscription:
        assert broker.subscriber_count(1) == 1
    marker = Event(message_id=1, seq=-1)

    broker.publish(Event(message_id=1, seq=1))
    subscription.deliver(marker)

    assert broker.subscriber_count(1) == 0
    assert await subscription.get() == marker


async def test_resync_all_replaces_what_every_subscriber_has_queued() -> None:
    broker = MemoryBroker()
    first, second = broker.subscribe(1), broker.subscribe(2)
    broker.publish(Event(message_id=1, seq=1))

    broker.resync_all()

    assert await first.get() is RESYNC
    assert await second.get() is RESYNC


@pytest.mark.parametrize(
    "item",
    [
        Event(message_id=1, seq=2),
        Event(
            message_id=1,
            seq=2,
            delta="héllo ✓",
            reasoning_delta="hmm",
            status="FAILED",
            done=True,
            error="cut",
            resync=True,
        ),
        Notice(NoticeKind.FLUSHED, 3, seq=9),
    ],
)
def test_items_survive_encoding(item: Event | Notice) -> None:
    assert decode(encode(item)) == item


async def test_changes_wake_only_the_feeds_of_their_user() -> None:
    broker = MemoryBroker()
    alices, bobs = broker.watch(1), broker.watch(2)
    broker.publish(Change(user_id=1, event_id=5))
    broker.publish(Change(user_id=2, event_id=6))
    assert await alices.get() == 5
    assert await bobs.get() == 6
    alices.close()
    broker.publish(Change(user_id=1, event_id=7))
    assert alices.waiting == 0


def test_a_full_feed_collapses_into_one_read_and_never_blocks_the_publisher() -> None:
    broker = MemoryBroker()
    feed = broker.watch(1)
    for event_id in range(FEED_SIZE + 50):
        broker.publish(Change(user_id=1, event_id=event_id))
    assert feed.overflows >= 1
    assert feed.waiting < FEED_SIZE


async def test_a_reconnect_tells_feeds_to_read_again() -> None:
    broker = MemoryBroker()
    feed = broker.watch(1)
    broker.publish(Change(user_id=1, event_id=3))
    broker.resync_all()
    assert await feed.get() is None


def test_changes_survive_the_wire_format() -> None:
    assert decode(encode(Change(user_id=3, event_id=2**62))) == Change(3, 2**62)


class Timers:
    """Stands in for the loop's call_later: the test fires each timer when it chooses."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.pending: list[tuple[float, Callable[[], object], asyncio.TimerHandle]] = []
        loop = asyncio.get_running_loop()

        def call_later(delay: float, callback: Callable[[], object]) -> asyncio.TimerHandle:
            handle = asyncio.TimerHandle(loop.time() + delay, callback, (), loop)
            self.pending.append((delay, callback, handle))
            return handle

        monkeypatch.setattr(loop, "call_later", call_later)

    def fire(self) -> float:
        """Runs the oldest timer set; the delay it was set for."""
        delay, callback, handle = self.pending.pop(0)
        assert not handle.cancelled()
        callback()
        return delay


async def test_a_watched_subscription_is_told_of_each_silent_stretch_and_only_those(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timers = Timers(monkeypatch)
    broker = MemoryBroker()
    with broker.subscribe(1) as subscription:
        subscription.watch(10.0)
        assert subscription.get_ready() is None
        # Something came during the stretch: no silence, and the watch goes on.
        broker.publish(Event(message_id=1, seq=1))
        assert timers.fire() == 10.0
        assert await _next_seq(subscription) == 1
        assert subscription.get_ready() is None
        # Nothing came: silence, once per stretch, from one timer re-armed as it fires.
        timers.fire()
        assert await subscription.get() is SILENCE
        timers.fire()
        assert await subscription.get() is SILENCE
        assert len(timers.pending) == 1
        watch = timers.pending[0][2]
    assert watch.cancelled(), "the watch outlived the subscription"


async def test_silence_never_overflows_a_full_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    timers = Timers(monkeypatch)
    broker = MemoryBroker(queue_size=2)
    with broker.subscribe(1) as subscription:
        subscription.watch(10.0)
        broker.publish(Event(message_id=1, seq=1))
        broker.publish(Event(message_id=1, seq=2))
        timers.fire()  # something came: nothing to add
        timers.fire()  # silent, but the queue is full: it is not left behind
        assert [await _next_seq(subscription), await _next_seq(subscription)] == [1, 2]
        assert subscription.get_ready() is None

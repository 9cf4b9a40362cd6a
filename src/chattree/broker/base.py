"""What travels between generators and subscribers, and the interface every broker has.

A broker carries three things: live `Event`s of a reply being generated and `Notice`s
(cancel and flush requests, flush answers) that let any process steer a generation
running in another one, both keyed by message id; and `Change`s, keyed by user, that
wake the subscribers of that user's conversation events (broker/changes.py).
Publishing never blocks and never waits for a subscriber: each subscription has a
bounded queue, and one that falls behind is told to resync instead of growing.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from chattree.broker.changes import Change, Feed

log = logging.getLogger(__name__)

QUEUE_SIZE: Final = 256


@dataclass(frozen=True, slots=True, weakref_slot=True)
class Event:
    """One numbered step of a reply: text appended since the previous step. Subscribers
    may key what they derive from it by it (weakly: it is hashable, by value)."""

    message_id: int
    seq: int
    delta: str = ""
    reasoning_delta: str = ""
    status: str = "STREAMING"
    done: bool = False
    error: str | None = None
    # Set when the text could not travel (too large for the channel): take a snapshot.
    resync: bool = False


class NoticeKind(enum.StrEnum):
    CANCEL = "cancel"
    FLUSH = "flush"
    FLUSHED = "flushed"


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    message_id: int
    seq: int = 0


class Resync:
    """Queued in place of what a subscriber missed: it must take a fresh snapshot."""


RESYNC: Final = Resync()


class Silence:
    """Queued when nothing has reached a watched subscription for a while (`watch`)."""


SILENCE: Final = Silence()

Item = Event | Notice | Change
# What a subscription's queue holds.
Queued = Item | Resync | Silence


class Subscription:
    """The queue of one subscriber to one message's events."""

    def __init__(self, broker: Broker, message_id: int, maxsize: int) -> None:
        self.broker = broker
        self.message_id = message_id
        self._queue: asyncio.Queue[Queued] = asyncio.Queue(maxsize)
        self._delivered = 0
        self._watch: asyncio.TimerHandle | None = None

    def deliver(self, item: Item | Resync) -> None:
        self._delivered += 1
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.resync()

    def resync(self) -> None:
        """Drops everything queued: the subscriber will take a snapshot instead."""
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(RESYNC)

    async def get(self) -> Queued:
        return await self._queue.get()

    def get_ready(self) -> Queued | None:
        """The next queued item, or None when nothing is queued yet."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def watch(self, seconds: float) -> None:
        """Queues SILENCE once `seconds` have passed with nothing delivered, and again
        after each such stretch. One timer for the subscription's life, which checks
        what came meanwhile when it fires, costs far less than a timeout armed and
        cancelled around every wait of a busy subscriber."""
        loop = asyncio.get_running_loop()
        seen = self._delivered

        def check() -> None:
            nonlocal seen
            if self._delivered == seen and not self._queue.full():
                self._queue.put_nowait(SILENCE)
            seen = self._delivered
            self._watch = loop.call_later(seconds, check)

        self._watch = loop.call_later(seconds, check)

    def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
        self.broker.unsubscribe(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Broker(ABC):
    """Fans items out to the subscriptions of their message id, in every process."""

    # False when every generation runs in this process, so none can be asked elsewhere.
    spans_processes: bool = True

    def __init__(self, *, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscriptions: dict[int, set[Subscription]] = {}
        self._feeds: dict[int, set[Feed]] = {}
        # Cancel and flush requests go to the generation manager of this process.
        self.on_request: Callable[[Notice], None] = lambda notice: None

    def subscribe(self, message_id: int) -> Subscription:
        """Registers at once: every item published after this call reaches it."""
        subscription = Subscription(self, message_id, self.queue_size)
        self._subscriptions.setdefault(message_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.message_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.message_id]

    def watch(self, user_id: int) -> Feed:
        """Registers at once: every change of the user published after this reaches it."""
        feed = Feed(self, user_id)
        self._feeds.setdefault(user_id, set()).add(feed)
        return feed

    def unwatch(self, feed: Feed) -> None:
        feeds = self._feeds.get(feed.user_id)
        if feeds is not None:
            feeds.discard(feed)
            if not feeds:
                del self._feeds[feed.user_id]

    def subscriber_count(self, message_id: int) -> int:
        return len(self._subscriptions.get(message_id, ()))

    @abstractmethod
    def publish(self, item: Item) -> None:
        """Sends `item` to every process; returns at once."""

    async def start(self) -> None:  # noqa: B027 (optional hook)
        """Connects whatever the broker needs."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Disconnects; pending items may be dropped."""

    def dispatch(self, item: Item) -> None:
        """Hands an item that reached this process to its local recipients."""
        if isinstance(item, Change):
            for feed in tuple(self._feeds.get(item.user_id, ())):
                feed.deliver(item.event_id)
            return
        if isinstance(item, Notice) and item.kind is not NoticeKind.FLUSHED:
            try:
                self.on_request(item)
            except Exception:
                log.exception("handling %s failed", item)
            return
        for subscription in tuple(self._subscriptions.get(item.message_id, ())):
            subscription.deliver(item)

    def resync_all(self) -> None:
        """Tells every subscriber it may have missed items (e.g. after a reconnect)."""
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.resync()
        for feeds in self._feeds.values():
            for feed in feeds:
                feed.resync()


def encode(item: Item) -> str:
    if isinstance(item, Change):
        return json.dumps({"u": item.user_id, "c": item.event_id})
    if isinstance(item, Notice):
        return json.dumps({"n": item.kind.value, "m": item.message_id, "s": item.seq})
    data: dict[str, Any] = {"m": item.message_id, "s": item.seq, "st": item.status}
    for key, value in (
        ("d", item.delta),
        ("r", item.reasoning_delta),
        ("x", item.done),
        ("e", item.error),
        ("z", item.resync),
    ):
        if value:
            data[key] = value
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def decode(payload: str) -> Item:
    data = json.loads(payload)
    if "u" in data:
        return Change(int(data["u"]), int(data["c"]))
    if "n" in data:
        return Notice(NoticeKind(data["n"]), int(data["m"]), int(data["s"]))
    return Event(
        message_id=int(data["m"]),
        seq=int(data["s"]),
        delta=data.get("d", ""),
        reasoning_delta=data.get("r", ""),
        status=data["st"],
        done=bool(data.get("x", False)),
        error=data.get("e"),
        resync=bool(data.get("z", False)),
    )

"""What travels for conversation events: a `Change` says that user `user_id` has a new
event `event_id`. Subscribers read the events themselves from the table, so a change is
only a wake-up: a feed that overflows or misses one loses nothing, it reads again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from chattree.broker.base import Broker

# Wake-ups a feed holds before it collapses them into one "read the table".
FEED_SIZE: Final = 64


@dataclass(frozen=True, slots=True)
class Change:
    user_id: int
    event_id: int


class Feed:
    """The queue of one subscriber to one user's changes. Never blocks the publisher:
    past FEED_SIZE it keeps a single None, meaning "read everything after your cursor"."""

    def __init__(self, broker: Broker, user_id: int, maxsize: int = FEED_SIZE) -> None:
        self.broker = broker
        self.user_id = user_id
        self._queue: asyncio.Queue[int | None] = asyncio.Queue(maxsize)
        self.overflows = 0

    def deliver(self, event_id: int | None) -> None:
        try:
            self._queue.put_nowait(event_id)
        except asyncio.QueueFull:
            self.resync()

    def resync(self) -> None:
        self.overflows += 1
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self) -> int | None:
        """The id of a newer event (None: unknown, read the table); waits for one."""
        return await self._queue.get()

    @property
    def waiting(self) -> int:
        """Wake-ups queued and not yet taken."""
        return self._queue.qsize()

    def drain(self) -> None:
        """Drops wake-ups already queued: the read about to happen covers them."""
        while not self._queue.empty():
            self._queue.get_nowait()

    def close(self) -> None:
        self.broker.unwatch(self)

    def __enter__(self) -> Feed:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

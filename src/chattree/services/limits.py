"""Limits counted in the database, so that every process enforces the same ones: hits
within a sliding window (prompts per minute; on PostgreSQL, logins and registrations
too) and replies a user may have generating at once."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db import counters
from chattree.db.engine import Database
from chattree.errors import RateLimited

# What a client turned away for having too many replies running is told to wait: a
# reply's length cannot be known, and a few seconds is a polite pace for a retry loop.
STREAMS_RETRY_AFTER = 5


class SharedWindow:
    """At most `limit` hits per key within any `window` seconds, like SlidingWindow,
    counted in the database. A hit turned away is not counted: the transaction that
    would have stored it rolls back."""

    def __init__(
        self,
        *,
        db: Database,
        limit: int,
        window: float = 60.0,
        what: str = "attempts",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.limit = limit
        self.window = window
        self.what = what
        self.clock = clock  # Unix seconds: hits are judged by every process alike
        self._next_prune = 0.0

    async def hit(self, *keys: str) -> None:
        """Counts one hit of each key in a transaction of its own, or raises RateLimited."""
        async with self.db.transaction() as session:
            await self.count(session, *keys)

    async def count(self, session: AsyncSession, *keys: str, serialized: bool = False) -> None:
        """Counts one hit of each key inside the caller's unit of work, which must roll
        back when this raises RateLimited. `serialized`: every transaction counting these
        keys holds one row lock first (the user's), so they take turns already and the
        keys need no lock of their own."""
        now = self.clock()
        if now >= self._next_prune:
            # Keys that never come back (one-off client addresses) leave rows behind.
            self._next_prune = now + self.window
            await counters.prune(session, now=now)
        for key in keys:
            expiries = await counters.recent_hits(session, key=key, now=now, lock=not serialized)
            if len(expiries) >= self.limit:
                retry_after = max(1, math.ceil(expiries[len(expiries) - self.limit] - now))
                raise RateLimited(
                    f"too many {self.what}; try again in {retry_after} s",
                    retry_after=retry_after,
                )
        for key in keys:
            await counters.add_hit(session, key=key, expires_at=now + self.window)


class GenerationLimits:
    """What a user must be within to start one more reply."""

    def __init__(self, *, max_streams: int, prompts: SharedWindow) -> None:
        self.max_streams = max_streams
        self.prompts = prompts

    async def admit(self, session: AsyncSession, *, user_id: int) -> None:
        """Raises RateLimited unless the user may start a reply now. Call it first in
        the unit of work that stores the reply: the user's lock makes a concurrent
        prompt of the same user, in any process, wait until this one is stored."""
        await counters.lock_user(session, user_id=user_id)
        running = await counters.streaming_count(session, user_id=user_id)
        if running >= self.max_streams:
            raise RateLimited(
                f"{running} of your replies are being generated, the most at once is "
                f"{self.max_streams}; wait for one to end or cancel it",
                retry_after=STREAMS_RETRY_AFTER,
            )
        await self.prompts.count(session, f"prompts:user:{user_id}", serialized=True)

"""A sliding-window limiter kept in the process's memory: exact for one process, which
is how SQLite is served (see services/limits.py for the one PostgreSQL replicas share)."""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Protocol

from chattree.errors import RateLimited


class Limiter(Protocol):
    async def hit(self, *keys: str) -> None:
        """Counts one attempt for each key, or raises RateLimited if any key is spent."""


class SlidingWindow:
    """At most `limit` hits per key within `window` seconds."""

    def __init__(
        self, *, limit: int, window: float = 60.0, what: str = "attempts", max_keys: int = 100_000
    ) -> None:
        self.limit = limit
        self.what = what
        self.window = window
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, *keys: str) -> None:
        """Counts one attempt for each key, or raises RateLimited if any key is spent."""
        now = time.monotonic()
        for key in keys:
            hits = self._recent(key, now)
            if len(hits) >= self.limit:
                retry_after = max(1, math.ceil(hits[0] + self.window - now))
                raise RateLimited(
                    f"too many {self.what}; try again in {retry_after} s",
                    retry_after=retry_after,
                )
        for key in keys:
            self._hits.setdefault(key, deque()).append(now)

    def _recent(self, key: str, now: float) -> deque[float]:
        hits = self._hits.get(key)
        if hits is None:
            if len(self._hits) >= self.max_keys:
                self._prune(now)
            return deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        return hits

    def _prune(self, now: float) -> None:
        for key in [k for k, h in self._hits.items() if not h or h[-1] <= now - self.window]:
            del self._hits[key]

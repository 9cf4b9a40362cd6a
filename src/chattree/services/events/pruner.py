"""Deletes events older than EVENT_RETENTION, in the background of every process."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Final

from chattree.db import events
from chattree.db.engine import Database
from chattree.db.types import utcnow

log = logging.getLogger(__name__)

# A quarter of the retention between passes, within these bounds: a cursor is refused
# at most a little after it passes the retention window.
MIN_PERIOD: Final = 0.2
MAX_PERIOD: Final = 300.0


class EventPruner:
    def __init__(self, *, db: Database, retention: float) -> None:
        self.db = db
        self.retention = retention
        self.period = min(MAX_PERIOD, max(MIN_PERIOD, retention / 4))
        self._task: asyncio.Task[None] | None = None

    async def prune(self) -> int:
        before = utcnow() - timedelta(seconds=self.retention)
        async with self.db.transaction() as session:
            return await events.prune(session, before=before)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-pruner")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                pruned = await self.prune()
                if pruned:
                    log.debug("pruned %d events", pruned)
            except Exception as exc:
                log.warning("pruning events failed (%s); retrying", exc)
            await asyncio.sleep(self.period)

"""Keeping the rows of running replies current: flushing their text about once a
second, proving this process alive for them, answering flush and cancel requests from
other processes, and sweeping rows whose generating process died into INTERRUPTED."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from chattree.broker import Broker, Event, Notice, NoticeKind
from chattree.db.engine import Database
from chattree.db.models import Status
from chattree.errors import StorageUnavailable
from chattree.metrics import Metrics
from chattree.services.generation import rows
from chattree.services.generation.reply import Reply
from chattree.settings import Settings

log = logging.getLogger(__name__)

INTERRUPTED_ERROR = "the server stopped while generating this reply"


class Upkeep:
    """Works on the manager's `replies` (shared, not copied); `stop` ends one of them
    with a status, `spawn` runs work no request waits for."""

    def __init__(
        self,
        *,
        db: Database,
        broker: Broker,
        settings: Settings,
        metrics: Metrics,
        replies: dict[int, Reply],
        stop: Callable[[Reply, Status], Coroutine[Any, Any, None]],
        spawn: Callable[[Coroutine[Any, Any, Any], str], None],
    ) -> None:
        self.db = db
        self.broker = broker
        self.settings = settings
        self.metrics = metrics
        self.replies = replies
        self._stop_reply = stop
        self._spawn = spawn

    def on_request(self, notice: Notice) -> None:
        reply = self.replies.get(notice.message_id)
        if reply is None:
            return
        if notice.kind is NoticeKind.CANCEL:
            self._spawn(self._stop_reply(reply, Status.CANCELLED), f"cancel-{notice.message_id}")
        elif notice.kind is NoticeKind.FLUSH:
            self._spawn(self._flush_and_answer(reply), f"flush-{notice.message_id}")

    async def _flush_and_answer(self, reply: Reply) -> None:
        # One flush at a time per reply: many subscribers joining at once ask for many,
        # and all but the first find nothing new to store.
        async with reply.flushing:
            await self._flush([reply])
        self.broker.publish(Notice(NoticeKind.FLUSHED, reply.message_id, reply.flushed_seq))

    async def _flush(self, replies: Iterable[Reply]) -> None:
        """Stores the published text of each reply with the number of its last event."""
        due = [
            rows.Text(r.message_id, r.content, r.reasoning, r.seq)
            for r in replies
            if r.seq > r.flushed_seq
        ]
        if not due:
            return
        await rows.store_text(self.db, due)
        for text in due:
            reply = self.replies.get(text.message_id)
            if reply is not None:
                reply.flushed_seq = max(reply.flushed_seq, text.seq)

    async def _heartbeat(self) -> None:
        """Proves this process alive for its replies, and stops any whose row was ended
        or deleted meanwhile (by a cancel that found this process silent, say): it would
        otherwise go on paying for tokens nobody can see."""
        ids = list(self.replies)
        if not ids:
            return
        alive = await rows.keep_alive(self.db, ids)
        for message_id in set(ids) - alive:
            reply = self.replies.get(message_id)
            if reply is not None:
                log.info("reply %s was ended elsewhere; stopping it", message_id)
                self._spawn(self._stop_reply(reply, Status.CANCELLED), f"stop-{message_id}")

    async def sweep(self) -> None:
        """Ends rows left STREAMING by a process that stopped proving it is alive."""
        found = await rows.stale(self.db, after=self.settings.stale_after)
        ids = [message_id for message_id in found if message_id not in self.replies]
        if ids:
            log.warning("marking %d abandoned replies INTERRUPTED", len(ids))
            await self.end_orphans(ids, Status.INTERRUPTED)

    async def end_orphans(self, ids: list[int], status: Status) -> None:
        """Ends STREAMING rows no process is generating, keeping their flushed text."""
        error = INTERRUPTED_ERROR if status is Status.INTERRUPTED else None
        for message_id, seq in await rows.end(self.db, ids, status, error):
            self.metrics.generations.labels(status.value).inc()
            # Subscribers may have seen text that never reached the row: resync to it.
            self.broker.publish(
                Event(message_id, seq, status=status.value, done=True, error=error, resync=True)
            )

    async def maintain(self) -> None:
        # Flushes and heartbeats keep their own periods: a heartbeat that waited for a
        # rare flush would let other processes take live replies for abandoned ones.
        settings = self.settings
        next_flush = time.monotonic() + settings.flush_interval
        next_beat = time.monotonic() + settings.heartbeat_interval
        while True:
            await asyncio.sleep(max(0.0, min(next_flush, next_beat) - time.monotonic()))
            now = time.monotonic()
            try:
                if now >= next_flush:
                    next_flush = now + settings.flush_interval
                    await self._flush(list(self.replies.values()))
                if now >= next_beat:
                    next_beat = now + settings.heartbeat_interval
                    await self._heartbeat()
                    await self.sweep()
            except StorageUnavailable as exc:
                log.warning("keeping reply rows current failed (%s); retrying", exc)
            except Exception:
                log.exception("keeping reply rows current failed; retrying")

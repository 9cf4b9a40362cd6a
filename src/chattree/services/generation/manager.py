"""Runs replies in the background and keeps their rows honest.

Each reply is an asyncio task independent of the request that started it and of any
subscriber. The manager flushes the text of running replies to their rows about once a
second, keeps a heartbeat on them, answers cancel and flush requests from any process,
and sweeps rows whose generating process died into INTERRUPTED.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Iterable
from typing import Any

from chattree import logs
from chattree.broker import Broker, Event, Notice, NoticeKind
from chattree.db import tree
from chattree.db.engine import Database
from chattree.db.models import Message, Role, Status
from chattree.errors import InvalidInput, NotFound, StorageUnavailable, UpstreamError
from chattree.llm import ChatMessage, ModelClient
from chattree.metrics import Metrics
from chattree.services.generation import rows
from chattree.services.generation.context import fit_context
from chattree.services.generation.reply import Reply, Snapshot
from chattree.settings import Settings

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 5.0
FINAL_WRITE_ATTEMPTS = 3
INTERRUPTED_ERROR = "the server stopped while generating this reply"
INTERNAL_ERROR = "internal error while generating this reply"
UPSTREAM_ROLES = {Role.SYSTEM: "system", Role.USER: "user", Role.ASSISTANT: "assistant"}


class GenerationManager:
    def __init__(
        self,
        *,
        db: Database,
        client: ModelClient,
        broker: Broker,
        settings: Settings,
        metrics: Metrics,
    ) -> None:
        self.db = db
        self.metrics = metrics
        self.client = client
        self.broker = broker
        self.settings = settings
        self.replies: dict[int, Reply] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        # Subscriptions being served by this process (see follow()).
        self.followers = 0
        broker.on_request = self._on_request

    async def start(self) -> None:
        await self.sweep()
        self._maintenance = asyncio.create_task(self._maintain(), name="generation-maintenance")

    async def close(self, grace: float = 0.0) -> None:
        """Lets running replies finish for up to `grace` seconds, ends the rest as
        INTERRUPTED (stored, subscribers told), then stops. Safe to call twice."""
        tasks = [reply.task for reply in self.replies.values() if reply.task is not None]
        if tasks and grace > 0:
            log.info("waiting up to %s s for %d replies to finish", grace, len(tasks))
            await asyncio.wait(tasks, timeout=grace)
        if self._maintenance is not None:
            self._maintenance.cancel()
            await asyncio.gather(self._maintenance, return_exceptions=True)
        running = [self._stop(reply, Status.INTERRUPTED) for reply in list(self.replies.values())]
        await asyncio.gather(*running, return_exceptions=True)
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        """Runs work that no request waits for; close() cancels what is left."""
        task = asyncio.create_task(coroutine, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # Starting and following replies

    def begin(self, *, message_id: int, parent_id: int, model: str) -> None:
        """Starts generating the STREAMING message `message_id` as a reply to `parent_id`."""
        reply = Reply(message_id=message_id, broker=self.broker)
        self.replies[message_id] = reply
        reply.task = asyncio.create_task(
            self._run(reply, parent_id=parent_id, model=model), name=f"reply-{message_id}"
        )

    async def wait(self, message_id: int) -> None:
        """Returns once the reply is final; cancelling the caller does not cancel it."""
        reply = self.replies.get(message_id)
        if reply is not None and reply.task is not None:
            await asyncio.shield(reply.task)

    def local_snapshot(self, message_id: int) -> Snapshot | None:
        reply = self.replies.get(message_id)
        return reply.snapshot() if reply is not None else None

    async def _run(self, reply: Reply, *, parent_id: int, model: str) -> None:
        # This task's own context: every line it logs names the reply.
        logs.message_id.set(reply.message_id)
        status, error = Status.COMPLETE, None
        try:
            async with self.db.reader() as session:
                window = await fit_context(
                    session, prompt_id=parent_id, budget=self.settings.prompt_budget
                )
            # Stored while the model is asked, not before: the first token comes sooner.
            counted = asyncio.create_task(
                rows.store_context_size(self.db, reply.message_id, len(window))
            )
            try:
                messages = [ChatMessage(UPSTREAM_ROLES[row.role], row.content) for row in window]
                asked, waiting = time.monotonic(), True
                async for delta in self.client.stream_chat(model=model, messages=messages):
                    if delta.content or delta.reasoning:
                        if waiting:
                            self.metrics.first_token_seconds.observe(time.monotonic() - asked)
                            waiting = False
                        self.metrics.tokens.inc()
                    reply.add(delta.content, delta.reasoning)
            finally:
                await asyncio.shield(counted)
        except (UpstreamError, InvalidInput, NotFound) as exc:
            status, error = Status.FAILED, exc.message
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            status = reply.stop_status or Status.INTERRUPTED
            error = INTERRUPTED_ERROR if status is Status.INTERRUPTED else None
        except Exception:
            log.exception("reply %s failed", reply.message_id)
            status, error = Status.FAILED, INTERNAL_ERROR
        await self._finish(reply, status, error)

    async def _finish(self, reply: Reply, status: Status, error: str | None) -> None:
        reply.finishing = True
        reply.publish_pending()
        try:
            stored = await self._store_end(reply, status, error)
        except Exception:
            # Without this the reply would stay here forever, its heartbeat keeping the
            # sweep away and its subscribers waiting. Dropped, its row goes stale and the
            # sweep (of this or another process) ends it with the last flushed text.
            log.exception("could not store the end of reply %s", reply.message_id)
            del self.replies[reply.message_id]
            return
        del self.replies[reply.message_id]
        log.info("reply %s ended %s (%s)", reply.message_id, status.value, error or "no error")
        self.metrics.generations.labels(status.value).inc()
        if not stored:
            # The row was deleted, or ended by a process that took this one for dead:
            # subscribers resync to whatever the row now says.
            log.info("reply %s was deleted or ended elsewhere first", reply.message_id)
            self.broker.publish(
                Event(reply.message_id, reply.seq + 1, status=status.value, done=True, resync=True)
            )
            return
        reply.finish(status, error)

    async def _store_end(self, reply: Reply, status: Status, error: str | None) -> bool:
        """Writes the final row, retrying briefly; False if the row was no longer live."""
        text = rows.Text(reply.message_id, reply.content, reply.reasoning, reply.seq + 1)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await rows.store_end(self.db, text, status, error)
            except Exception:
                if attempt == FINAL_WRITE_ATTEMPTS:
                    raise
                log.warning("storing the end of reply %s failed; retrying", reply.message_id)
                await asyncio.sleep(0.2 * attempt)

    async def _stop(self, reply: Reply, status: Status) -> None:
        task = reply.task
        if task is None:
            return
        if not reply.finishing and not task.done():
            reply.stop_status = status
            task.cancel()
        await asyncio.shield(task)

    # Cancelling

    def abandon(self, message_ids: Iterable[int]) -> None:
        """Stops the replies of deleted rows, in whichever process generates them."""
        for message_id in message_ids:
            reply = self.replies.get(message_id)
            if reply is not None:
                self.spawn(self._stop(reply, Status.CANCELLED), f"abandon-{message_id}")
            elif self.broker.spans_processes:
                self.broker.publish(Notice(NoticeKind.CANCEL, message_id))

    async def cancel(self, *, message_id: int, user_id: int) -> Message:
        async with self.db.reader() as session:
            row = await tree.owned_message(session, message_id=message_id, user_id=user_id)
        if row is None:
            raise NotFound(f"no message with id {message_id}")
        if row.status is not Status.STREAMING:
            raise InvalidInput(
                f"message {message_id} is already {row.status.value}; "
                "only a STREAMING message can be cancelled",
                argument="messageId",
            )
        reply = self.replies.get(message_id)
        if reply is not None:
            await self._stop(reply, Status.CANCELLED)
        elif not await self._cancel_elsewhere(message_id):
            await self.end_orphans([message_id], Status.CANCELLED)
        async with self.db.reader() as session:
            row = await session.get(Message, message_id)
        if row is None:
            raise NotFound(f"no message with id {message_id}")
        if row.status not in (Status.CANCELLED, Status.STREAMING):
            raise InvalidInput(
                f"message {message_id} ended {row.status.value} before it could be cancelled",
                argument="messageId",
            )
        return row

    async def _cancel_elsewhere(self, message_id: int) -> bool:
        """Asks the process generating `message_id` to stop; True once it has."""
        if not self.broker.spans_processes:
            return False
        with self.broker.subscribe(message_id) as subscription:
            self.broker.publish(Notice(NoticeKind.CANCEL, message_id))
            try:
                async with asyncio.timeout(CANCEL_TIMEOUT):
                    while True:
                        item = await subscription.get()
                        if isinstance(item, Event) and item.done:
                            return True
            except TimeoutError:
                return False

    # Keeping rows current

    def _on_request(self, notice: Notice) -> None:
        reply = self.replies.get(notice.message_id)
        if reply is None:
            return
        if notice.kind is NoticeKind.CANCEL:
            self.spawn(self._stop(reply, Status.CANCELLED), f"cancel-{notice.message_id}")
        elif notice.kind is NoticeKind.FLUSH:
            self.spawn(self._flush_and_answer(reply), f"flush-{notice.message_id}")

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
                self.spawn(self._stop(reply, Status.CANCELLED), f"stop-{message_id}")

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

    async def _maintain(self) -> None:
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

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
from chattree.db.models import Conversation, Message, Status
from chattree.errors import InvalidInput, NotFound, UpstreamError
from chattree.llm import ModelClient
from chattree.metrics import Metrics
from chattree.services.generation import rows
from chattree.services.generation.reply import Reply, Snapshot
from chattree.services.generation.rows import Outcome
from chattree.services.generation.run import Job, Request, prepare
from chattree.services.generation.settings import Windows
from chattree.services.generation.upkeep import INTERRUPTED_ERROR, Upkeep
from chattree.settings import Settings

log = logging.getLogger(__name__)

CANCEL_TIMEOUT = 5.0
FINAL_WRITE_ATTEMPTS = 3
INTERNAL_ERROR = "internal error while generating this reply"


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
        self.windows = Windows(client=client, settings=settings)
        self.replies: dict[int, Reply] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        # Subscriptions being served by this process (see follow()).
        self.followers = 0
        self.upkeep = Upkeep(
            db=db,
            broker=broker,
            settings=settings,
            metrics=metrics,
            replies=self.replies,
            stop=self._stop,
            spawn=self.spawn,
        )
        broker.on_request = self.upkeep.on_request

    async def start(self) -> None:
        await self.upkeep.sweep()
        self._maintenance = asyncio.create_task(
            self.upkeep.maintain(), name="generation-maintenance"
        )

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

    def begin(
        self,
        *,
        message_id: int,
        parent_id: int,
        model: str,
        resume: Snapshot | None = None,
        conversation: Conversation | None = None,
    ) -> None:
        """Starts generating the STREAMING message `message_id` as a reply to `parent_id`;
        with `resume` (its row as it was stored), continues the text the row holds: the
        events then go on from the row's number, and the first one a subscriber gets
        carries the whole text. `conversation`: the row as the unit of work that stored
        the reply left it, which spares the reply reading it again."""
        reply = Reply(message_id=message_id, broker=self.broker, resume=resume)
        self.replies[message_id] = reply
        prefix = resume.content if resume is not None else None
        job = Job(message_id, parent_id, model, prefix, conversation)
        reply.task = asyncio.create_task(self._run(reply, job), name=f"reply-{message_id}")

    async def wait(self, message_id: int) -> None:
        """Returns once the reply is final; cancelling the caller does not cancel it."""
        reply = self.replies.get(message_id)
        if reply is not None and reply.task is not None:
            await asyncio.shield(reply.task)

    def local_snapshot(self, message_id: int) -> Snapshot | None:
        reply = self.replies.get(message_id)
        return reply.snapshot() if reply is not None else None

    async def _run(self, reply: Reply, job: Job) -> None:
        # This task's own context: every line it logs names the reply.
        logs.message_id.set(reply.message_id)
        outcome = Outcome()
        try:
            request = await prepare(self.db, self.windows, job)
            outcome.estimate = request.estimate
            # Stored while the model is asked, not before: the first token comes sooner.
            counted = asyncio.create_task(
                rows.store_context_size(self.db, reply.message_id, len(request.messages))
            )
            try:
                await self._stream(reply, job.model, request, outcome)
            finally:
                await _settle(counted, reply.message_id)
        except (UpstreamError, InvalidInput, NotFound) as exc:
            outcome.status, outcome.error = Status.FAILED, exc.message
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            outcome.status = reply.stop_status or Status.INTERRUPTED
            outcome.error = INTERRUPTED_ERROR if outcome.status is Status.INTERRUPTED else None
        except Exception:
            log.exception("reply %s failed", reply.message_id)
            outcome.status, outcome.error = Status.FAILED, INTERNAL_ERROR
        await self._finish(reply, outcome)

    async def _stream(self, reply: Reply, model: str, request: Request, outcome: Outcome) -> None:
        asked, waiting = time.monotonic(), True
        deltas = self.client.stream_chat(
            model=model, messages=request.messages, sampling=request.sampling
        )
        async for delta in deltas:
            if delta.content or delta.reasoning:
                if waiting:
                    self.metrics.first_token_seconds.observe(time.monotonic() - asked)
                    waiting = False
                self.metrics.tokens.inc()
            reply.add(delta.content, delta.reasoning)
            outcome.finish_reason = delta.finish_reason or outcome.finish_reason
            outcome.usage = delta.usage or outcome.usage

    async def _finish(self, reply: Reply, outcome: Outcome) -> None:
        status, error = outcome.status, outcome.error
        reply.finishing = True
        reply.publish_pending()
        try:
            stored = await self._store_end(reply, outcome)
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

    async def _store_end(self, reply: Reply, outcome: Outcome) -> bool:
        """Writes the final row, retrying briefly; False if the row was no longer live.
        (The one place a reply's end is stored, with its usage and finish reason.)"""
        text = rows.Text(reply.message_id, reply.content, reply.reasoning, reply.seq + 1)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await rows.store_end(self.db, text, outcome)
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
            await self.upkeep.end_orphans([message_id], Status.CANCELLED)
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


async def _settle(counted: asyncio.Task[None], message_id: int) -> None:
    """Waits for the context size to be stored. It only informs, so failing to store it
    must not turn a reply that streamed, or was cancelled, into a failed one."""
    try:
        await asyncio.shield(counted)
    except Exception as exc:
        log.warning("could not store the context size of reply %s: %s", message_id, exc)

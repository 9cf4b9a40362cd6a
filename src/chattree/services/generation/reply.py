"""A reply being generated in this process: its text, its events, its coalescing."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from chattree.broker import Broker, Event
from chattree.db.models import Status

# Tokens are published in batches, at most one per this long, or once this much text
# waits. Text that comes after a quiet spell goes out as soon as the tokens read with
# it are in: waiting for the period's end would add it to the first token of every reply.
COALESCE_SECONDS = 0.015
COALESCE_CHARS = 400
# Every event costs one frame per follower (about 40 µs of a core each on a small
# machine), so a reply with many followers in this process waits this much longer per
# follower between events: its fan-out then keeps to part of a core instead of queueing
# frames behind each other. Never longer than COALESCE_MAX_SECONDS.
FOLLOWER_SECONDS = 50e-6
COALESCE_MAX_SECONDS = 0.1
# One event never carries more text than this, so it fits any broker's payload limit.
MAX_EVENT_CHARS = 1000


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A reply as far as it was published: text, the number of its last event, status."""

    content: str
    reasoning: str
    seq: int
    status: Status
    error: str | None = None

    @property
    def final(self) -> bool:
        return self.status is not Status.STREAMING


class Reply:
    """The text of one STREAMING message and the events that carried it out."""

    def __init__(self, *, message_id: int, broker: Broker, resume: Snapshot | None = None) -> None:
        self.message_id = message_id
        self.broker = broker
        # A continued reply starts from its stored row: its text, and its last number.
        self.content = resume.content if resume is not None else ""
        self.reasoning = resume.reasoning if resume is not None else ""
        self.seq = resume.seq if resume is not None else 0
        self.flushed_seq = self.seq
        self.task: asyncio.Task[None] | None = None
        # Why the task was cancelled: CANCELLED by a user, INTERRUPTED by shutdown.
        self.stop_status: Status | None = None
        # Set once the final row is being written: from then on it must not be cancelled.
        self.finishing = False
        self.flushing = asyncio.Lock()
        self._pending_content: list[str] = []
        self._pending_reasoning: list[str] = []
        self._pending_chars = 0
        self._timer: asyncio.Handle | None = None
        self._due: float | None = None
        self._published_at = -COALESCE_MAX_SECONDS  # the event loop's clock

    def snapshot(self) -> Snapshot:
        return Snapshot(self.content, self.reasoning, self.seq, Status.STREAMING)

    @property
    def period(self) -> float:
        """The shortest time between two events, from this process's follower count."""
        followers = self.broker.subscriber_count(self.message_id)
        return min(max(COALESCE_SECONDS, followers * FOLLOWER_SECONDS), COALESCE_MAX_SECONDS)

    @property
    def due(self) -> float | None:
        """When waiting text is published, on the event loop's clock: None unless text
        waits for the end of a period."""
        return self._due

    def add(self, content: str, reasoning: str) -> None:
        """Queues text from the model; it is published within one `period`."""
        if not content and not reasoning:
            return
        self._pending_content.append(content)
        self._pending_reasoning.append(reasoning)
        self._pending_chars += len(content) + len(reasoning)
        if self._timer is not None:
            if self._pending_chars >= COALESCE_CHARS:
                self.publish_pending()
            return
        loop = asyncio.get_running_loop()
        wait = self._published_at + self.period - loop.time()
        if self._pending_chars >= COALESCE_CHARS:
            self.publish_pending()
        elif wait <= 0:
            # Once the tokens of the same read are added: one event, not one each.
            self._timer = loop.call_soon(self.publish_pending)
        else:
            self._timer = loop.call_later(wait, self.publish_pending)
            self._due = loop.time() + wait

    def publish_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._due = None
        content, reasoning = self._take_pending()
        if content or reasoning:
            self._published_at = asyncio.get_running_loop().time()
        while content or reasoning:
            piece_c, content = content[:MAX_EVENT_CHARS], content[MAX_EVENT_CHARS:]
            room = MAX_EVENT_CHARS - len(piece_c)
            piece_r, reasoning = reasoning[:room], reasoning[room:]
            self._publish(Event(self.message_id, self.seq + 1, piece_c, piece_r))

    def finish(self, status: Status, error: str | None) -> None:
        """Publishes the final event (call `publish_pending` and store the text first)."""
        self.publish_pending()
        self._publish(
            Event(self.message_id, self.seq + 1, status=status.value, done=True, error=error)
        )

    def _take_pending(self) -> tuple[str, str]:
        content, reasoning = "".join(self._pending_content), "".join(self._pending_reasoning)
        self._pending_content.clear()
        self._pending_reasoning.clear()
        self._pending_chars = 0
        return content, reasoning

    def _publish(self, event: Event) -> None:
        self.seq = event.seq
        self.content += event.delta
        self.reasoning += event.reasoning_delta
        self.broker.publish(event)

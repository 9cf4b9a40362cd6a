"""Following a reply live: a snapshot first, then only the events after it.

The subscription is taken BEFORE the snapshot, so every event published after the
snapshot is queued, and events the snapshot already covers are recognised by their
number. A reply generated in another process is flushed on request first, so its row
holds every event published before the subscription began.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import replace

from chattree.broker import (
    RESYNC,
    SILENCE,
    Event,
    Notice,
    NoticeKind,
    Queued,
    Subscription,
)
from chattree.db.models import Message, Status
from chattree.errors import NotFound
from chattree.services.generation.manager import GenerationManager
from chattree.services.generation.reply import Snapshot

# How long to wait for the generating process to flush before trusting the row as is
# (that process may be gone; the sweep will end the row then).
FLUSH_TIMEOUT = 2.0
# Silence after which a subscriber checks that the reply is still live: a final event
# lost on its way (a broker that dropped it) must not leave it waiting forever.
IDLE_CHECK = 10.0


async def follow(
    manager: GenerationManager, message_id: int, *, checked: Message | None = None
) -> AsyncIterator[Event]:
    """Events of one message: the first carries all text so far, the last has done=True.
    `checked`: the message's row as the caller just read it (to check its owner)."""
    manager.followers += 1
    try:
        if checked is not None and checked.status is not Status.STREAMING:
            # Final when it was read: its row is the whole answer, with no need to
            # subscribe and read it again.
            yield Client(message_id).catch_up(snapshot_of(checked))
            return
        async for event in _follow(manager, message_id):
            yield event
    finally:
        manager.followers -= 1


async def _follow(manager: GenerationManager, message_id: int) -> AsyncIterator[Event]:
    with manager.broker.subscribe(message_id) as subscription:
        early: deque[Queued] = deque()
        client = Client(message_id)
        snap = await snapshot(manager, subscription, early)
        yield client.catch_up(snap)
        if snap.final:
            return
        subscription.watch(IDLE_CHECK)
        while True:
            item = early.popleft() if early else await subscription.get()
            if item is SILENCE:
                # Only a lost final event needs catching here: the row tells, without
                # asking the generating process to flush (every silent subscriber would).
                snap = await snapshot(manager, subscription, early, flush=False)
                if snap.final:
                    yield client.catch_up(snap)
                    return
                continue
            if isinstance(item, Notice):
                continue
            if isinstance(item, Event) and not item.resync:
                if item.seq <= client.seq and not item.done:
                    continue  # already covered by the snapshot
                if item.seq == client.seq + 1:
                    event = absorb_ready(item, subscription, early)
                    yield client.forward(event)
                    if event.done:
                        return
                    continue
            # Missed events (queue overflow, a lost notification, text too large for the
            # channel): catch up from a fresh snapshot.
            snap = await snapshot(manager, subscription, early)
            if snap.seq > client.seq or snap.final:
                yield client.catch_up(snap)
                if snap.final:
                    return
            # Otherwise the row is still behind what the client has: wait for more.


def absorb_ready(event: Event, subscription: Subscription, early: deque[Queued]) -> Event:
    """`event` with the consecutive events already queued behind it folded in.

    A subscriber that falls behind (a busy process, a slow socket) then sends one
    message for what arrived meanwhile instead of one per event, so its cost per
    token falls as the load rises, and it catches up instead of queueing more. The
    first item that does not follow on is put back, to be handled as usual.
    """
    deltas: list[str] = [event.delta]
    reasoning: list[str] = [event.reasoning_delta]
    last = event
    while not last.done:
        item = early.popleft() if early else subscription.get_ready()
        if item is None:
            break
        if not isinstance(item, Event) or item.resync or item.seq != last.seq + 1:
            early.appendleft(item)
            break
        deltas.append(item.delta)
        reasoning.append(item.reasoning_delta)
        last = item
    if last is event:
        return event
    return replace(last, delta="".join(deltas), reasoning_delta="".join(reasoning))


class Client:
    """What one subscriber has been sent so far."""

    def __init__(self, message_id: int) -> None:
        self.message_id = message_id
        self.content = 0  # characters of content sent
        self.reasoning = 0
        self.seq = 0

    def forward(self, event: Event) -> Event:
        self.seq = event.seq
        self.content += len(event.delta)
        self.reasoning += len(event.reasoning_delta)
        return event

    def catch_up(self, snap: Snapshot) -> Event:
        """The event that takes the client from what it has to `snap`. Text only grows
        with seq, so a newer snapshot always starts with what the client has (a row
        swept after a crash may hold less: then nothing more is sent)."""
        event = Event(
            self.message_id,
            snap.seq,
            snap.content[self.content :],
            snap.reasoning[self.reasoning :],
            status=snap.status.value,
            done=snap.final,
            error=snap.error,
        )
        self.seq = snap.seq
        self.content = max(self.content, len(snap.content))
        self.reasoning = max(self.reasoning, len(snap.reasoning))
        return event


async def snapshot(
    manager: GenerationManager,
    subscription: Subscription,
    early: deque[Queued],
    *,
    flush: bool = True,
) -> Snapshot:
    """The reply as published so far; items that arrive while asking are kept in `early`.
    With flush=False, the row as it is, without asking the generating process first."""
    local = manager.local_snapshot(subscription.message_id)
    if local is not None:
        return local
    row = await read_row(manager, subscription.message_id)
    if flush and row.status is Status.STREAMING and manager.broker.spans_processes:
        manager.broker.publish(Notice(NoticeKind.FLUSH, subscription.message_id))
        if await wait_for_flush(subscription, early):
            row = await read_row(manager, subscription.message_id)
    return snapshot_of(row)


def snapshot_of(row: Message) -> Snapshot:
    return Snapshot(row.content, row.reasoning or "", row.seq, row.status, row.error)


async def wait_for_flush(subscription: Subscription, early: deque[Queued]) -> bool:
    try:
        async with asyncio.timeout(FLUSH_TIMEOUT):
            while True:
                item = await subscription.get()
                if item is RESYNC:
                    early.clear()  # the snapshot about to be taken covers what was dropped
                    continue
                early.append(item)
                if isinstance(item, Notice) and item.kind is NoticeKind.FLUSHED:
                    return True
                if isinstance(item, Event) and item.done:
                    return True
    except TimeoutError:
        return False


async def read_row(manager: GenerationManager, message_id: int) -> Message:
    async with manager.db.reader() as session:
        row = await session.get(Message, message_id)
    if row is None:
        raise NotFound(f"no message with id {message_id}")
    return row

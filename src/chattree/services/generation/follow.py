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

from chattree.broker import RESYNC, Event, Item, Notice, NoticeKind, Resync, Subscription
from chattree.db.models import Message, Status
from chattree.errors import NotFound
from chattree.services.generation.manager import GenerationManager
from chattree.services.generation.reply import Snapshot

# How long to wait for the generating process to flush before trusting the row as is
# (that process may be gone; the sweep will end the row then).
FLUSH_TIMEOUT = 2.0


async def follow(manager: GenerationManager, message_id: int) -> AsyncIterator[Event]:
    """Events of one message: the first carries all text so far, the last has done=True."""
    manager.followers += 1
    try:
        async for event in _follow(manager, message_id):
            yield event
    finally:
        manager.followers -= 1


async def _follow(manager: GenerationManager, message_id: int) -> AsyncIterator[Event]:
    with manager.broker.subscribe(message_id) as subscription:
        early: deque[Item | Resync] = deque()
        snap = await snapshot(manager, subscription, early)
        sent_content, sent_reasoning, seq = len(snap.content), len(snap.reasoning), snap.seq
        yield Event(
            message_id,
            snap.seq,
            snap.content,
            snap.reasoning,
            status=snap.status.value,
            done=snap.final,
            error=snap.error,
        )
        if snap.final:
            return
        while True:
            item = early.popleft() if early else await subscription.get()
            if isinstance(item, Notice):
                continue
            if isinstance(item, Event) and item.seq <= seq and not item.done:
                continue  # already covered by the snapshot
            if isinstance(item, Event) and item.seq == seq + 1 and not item.resync:
                seq = item.seq
                sent_content += len(item.delta)
                sent_reasoning += len(item.reasoning_delta)
                yield item
                if item.done:
                    return
                continue
            # Missed events (queue overflow, a lost notification, text too large for the
            # channel): catch up from a fresh snapshot.
            snap = await snapshot(manager, subscription, early)
            yield Event(
                message_id,
                snap.seq,
                snap.content[sent_content:],
                snap.reasoning[sent_reasoning:],
                status=snap.status.value,
                done=snap.final,
                error=snap.error,
            )
            if snap.final:
                return
            sent_content, sent_reasoning = len(snap.content), len(snap.reasoning)
            seq = snap.seq


async def snapshot(
    manager: GenerationManager, subscription: Subscription, early: deque[Item | Resync]
) -> Snapshot:
    """The reply as published so far; items that arrive while asking are kept in `early`."""
    local = manager.local_snapshot(subscription.message_id)
    if local is not None:
        return local
    row = await read_row(manager, subscription.message_id)
    if row.status is Status.STREAMING and manager.broker.spans_processes:
        manager.broker.publish(Notice(NoticeKind.FLUSH, subscription.message_id))
        if await wait_for_flush(subscription, early):
            row = await read_row(manager, subscription.message_id)
    return Snapshot(row.content, row.reasoning or "", row.seq, row.status, row.error)


async def wait_for_flush(subscription: Subscription, early: deque[Item | Resync]) -> bool:
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

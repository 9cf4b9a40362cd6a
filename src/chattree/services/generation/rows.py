"""The SQL that keeps the rows of replies honest: their text, their heartbeat, their end.

Every write is conditional on the row still being STREAMING, and text only ever moves
forward (a flush never stores an older `seq` than the row has), so writers racing on
one row (periodic flushes, flush requests, the final write, another process's sweep)
cannot undo each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, update

from chattree.db import usage
from chattree.db.engine import Database
from chattree.db.estimate import estimate_tokens
from chattree.db.events import lock_owners, record_message_events
from chattree.db.models import EventKind, Message, Status
from chattree.db.types import utcnow
from chattree.llm import Usage


@dataclass(frozen=True, slots=True)
class Text:
    """A reply's published text as of event `seq`."""

    message_id: int
    content: str
    reasoning: str
    seq: int


@dataclass(slots=True)
class Outcome:
    """How a reply ended, as its final write stores it."""

    status: Status = Status.COMPLETE
    error: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    estimate: int = 0  # of what was sent; 0 when nothing was


def now(db: Database) -> datetime | ColumnElement[datetime]:
    """The time heartbeats are written and judged by: the database's own clock on
    PostgreSQL, so replicas whose clocks drift apart never take each other for dead.
    (SQLite serves one process: its clock is the database's.)"""
    return utcnow() if db.is_sqlite else func.now()


async def store_text(db: Database, texts: Sequence[Text]) -> None:
    async with db.transaction() as session:
        for text in texts:
            await session.execute(
                update(Message)
                .where(
                    Message.id == text.message_id,
                    Message.status == Status.STREAMING,
                    Message.seq < text.seq,
                )
                .values(
                    content=text.content,
                    reasoning=text.reasoning or None,
                    token_estimate=estimate_tokens(text.content),
                    seq=text.seq,
                    heartbeat_at=now(db),
                )
            )


async def store_end(db: Database, text: Text, outcome: Outcome) -> bool:
    """Writes the final row, and adds its usage to the sums of its conversation and user
    in the same transaction; False if it was no longer STREAMING (deleted or ended)."""
    values: dict[str, Any] = {
        "content": text.content,
        "reasoning": text.reasoning or None,
        "token_estimate": estimate_tokens(text.content),
        "status": outcome.status,
        "error": outcome.error,
        "finish_reason": outcome.finish_reason,
        "seq": text.seq,
        "heartbeat_at": None,
    }
    reported = outcome.usage
    if reported is not None:
        # A continued reply sums the counts of each of its requests.
        values["prompt_tokens"] = func.coalesce(Message.prompt_tokens, 0) + reported.prompt_tokens
        values["completion_tokens"] = (
            func.coalesce(Message.completion_tokens, 0) + reported.completion_tokens
        )
    async with db.transaction() as session:
        # The owner's row first, as every writer of its sums and its events takes it.
        owned = await lock_owners(session, [text.message_id])
        conversation_id = await session.scalar(
            update(Message)
            .where(Message.id == text.message_id, Message.status == Status.STREAMING)
            .values(values)
            .returning(Message.conversation_id)
        )
        if conversation_id is None:
            return False
        if reported is not None:
            await usage.add_reply_usage(
                session,
                conversation_id=conversation_id,
                prompt_tokens=reported.prompt_tokens,
                completion_tokens=reported.completion_tokens,
                ratio=usage.calibrated(reported.prompt_tokens, outcome.estimate),
            )
        await record_message_events(session, EventKind.MESSAGE_UPDATED, owned)
    return True


async def store_context_size(db: Database, message_id: int, count: int) -> None:
    """Records how many messages the reply's request to the model holds."""
    async with db.transaction() as session:
        await session.execute(
            update(Message).where(Message.id == message_id).values(context_message_count=count)
        )


async def keep_alive(db: Database, ids: Sequence[int]) -> set[int]:
    """Renews the heartbeat of these rows; returns those still STREAMING."""
    async with db.transaction() as session:
        alive = await session.scalars(
            update(Message)
            .where(Message.id.in_(ids), Message.status == Status.STREAMING)
            .values(heartbeat_at=now(db))
            .returning(Message.id)
        )
        return set(alive)


async def stale(db: Database, *, after: float) -> list[int]:
    """STREAMING rows whose heartbeat is older than `after` seconds."""
    cutoff = now(db) - timedelta(seconds=after)
    async with db.reader() as session:
        rows = await session.scalars(
            select(Message.id).where(
                Message.status == Status.STREAMING,
                or_(Message.heartbeat_at.is_(None), Message.heartbeat_at < cutoff),
            )
        )
        return list(rows)


async def end(
    db: Database, ids: Sequence[int], status: Status, error: str | None
) -> list[tuple[int, int]]:
    """Ends the rows still STREAMING, keeping their flushed text: (id, final seq) each."""
    async with db.transaction() as session:
        owned = await lock_owners(session, ids)
        ended = await session.execute(
            update(Message)
            .where(Message.id.in_(ids), Message.status == Status.STREAMING)
            .values(status=status, error=error, heartbeat_at=None, seq=Message.seq + 1)
            .returning(Message.id, Message.seq)
        )
        found = [(message_id, seq) for message_id, seq in ended]
        still = {message_id for message_id, _ in found}
        await record_message_events(
            session, EventKind.MESSAGE_UPDATED, [one for one in owned if one.message_id in still]
        )
        return found

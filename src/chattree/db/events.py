"""The event log of each user's conversations: written in the caller's transaction,
announced after it commits, read back by cursor, pruned by age.

Ids are the cursors, so a user's events must become visible in id order: a reader that
saw id 12 must never later find an 11 committed. Each write therefore locks the user's
row first (PostgreSQL; SQLite has one writer at a time anyway) and holds it to commit:
the next transaction of that user takes its id only after this one is visible. Callers
record their events last in the transaction, so the lock is held for an instant.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.counters import locked_users
from chattree.db.models import Conversation, EventKind, EventRow, Message, User
from chattree.db.types import utcnow

# session.info key of the events a transaction wrote, announced once it commits.
RECORDED: Final = "chattree.recorded_events"


@dataclass(frozen=True, slots=True)
class Recorded:
    user_id: int
    event_id: int


async def record_event(
    session: AsyncSession,
    user_id: int,
    kind: EventKind,
    conversation_id: int,
    message_id: int | None = None,
) -> None:
    """Writes one event in the caller's transaction; it is announced after commit."""
    await record_events(session, user_id, [(kind, conversation_id, message_id)])


# What an event is about: its kind, the conversation, and the message if any.
About = tuple[EventKind, int, int | None]


async def record_events(session: AsyncSession, user_id: int, events: Sequence[About]) -> None:
    """Writes the user's events, in this order, with one statement (a prompt writes three
    before its client may subscribe); they are announced after commit."""
    await _lock_users(session, [user_id])
    now = utcnow()
    ids = await session.scalars(
        insert(EventRow)
        .values(
            [
                {
                    "user_id": user_id,
                    "kind": kind.value,
                    "conversation_id": conversation_id,
                    "message_id": message_id,
                    "created_at": now,
                }
                for kind, conversation_id, message_id in events
            ]
        )
        .returning(EventRow.id)
    )
    found = session.info.setdefault(RECORDED, [])
    found.extend(Recorded(user_id, event_id) for event_id in sorted(ids))


@dataclass(frozen=True, slots=True)
class Owned:
    """Whose a message is: what its events need."""

    message_id: int
    conversation_id: int
    user_id: int


async def lock_owners(session: AsyncSession, message_ids: Sequence[int]) -> list[Owned]:
    """Locks the rows of the users owning these messages, before the messages' own: the
    order every writer of a user's events and usage sums keeps, so none deadlocks. Says
    whose each message is, for the events of the writer that follows."""
    if not message_ids:
        return []
    rows = await session.execute(
        select(Message.id, Message.conversation_id, User.id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(User, User.id == Conversation.user_id)
        .where(Message.id.in_(message_ids))
        .order_by(User.id, Message.id)
        .with_for_update(key_share=True, of=User)
    )
    owned = [
        Owned(message_id, conversation_id, user_id) for message_id, conversation_id, user_id in rows
    ]
    locked_users(session).update(one.user_id for one in owned)
    return owned


async def record_message_events(
    session: AsyncSession, kind: EventKind, owned: Sequence[Owned]
) -> None:
    """One event per message, for writers that know only message ids (the end of a
    reply, the sweep) and locked their owners first (`lock_owners`)."""
    for user_id, group in itertools.groupby(owned, key=lambda one: one.user_id):
        await record_events(
            session, user_id, [(kind, one.conversation_id, one.message_id) for one in group]
        )


async def _lock_users(session: AsyncSession, user_ids: Sequence[int]) -> None:
    unlocked = set(user_ids) - locked_users(session)
    if not unlocked:
        return
    # A writer that changed a row of the user's before taking the user's row can deadlock
    # with one that took the user first (a prompt, a reply's end) on PostgreSQL. Every
    # writer locks first; the warning, an error under the tests, names one that forgot.
    warnings.warn(
        f"an event of user {min(unlocked)} is recorded by a transaction that did not lock "
        "the user first (counters.lock_user)",
        RuntimeWarning,
        stacklevel=3,
    )
    locked_users(session).update(unlocked)
    if session.get_bind().dialect.name != "postgresql":
        return
    # NO KEY UPDATE: inserts referencing the user (its conversations) do not wait for it.
    await session.execute(
        select(User.id).where(User.id.in_(sorted(set(user_ids)))).with_for_update(key_share=True)
    )


def recorded(info: dict[Any, Any]) -> list[Recorded]:
    """Takes the events a committed transaction recorded (see Database.transaction)."""
    found: list[Recorded] = info.pop(RECORDED, [])
    return found


async def events_after(
    session: AsyncSession, *, user_id: int, after: int, limit: int
) -> list[EventRow]:
    rows = await session.scalars(
        select(EventRow)
        .where(EventRow.user_id == user_id, EventRow.id > after)
        .order_by(EventRow.id)
        .limit(limit)
    )
    return list(rows)


async def owns_event(session: AsyncSession, *, user_id: int, event_id: int) -> bool:
    found = await session.scalar(
        select(EventRow.id).where(EventRow.id == event_id, EventRow.user_id == user_id)
    )
    return found is not None


async def last_event_id(session: AsyncSession, *, user_id: int) -> int:
    """The user's newest event id, 0 when there is none (served by ix_events_user)."""
    found = await session.scalar(
        select(EventRow.id).where(EventRow.user_id == user_id).order_by(EventRow.id.desc())
    )
    return found or 0


async def prune(session: AsyncSession, *, before: datetime) -> int:
    result = await session.execute(delete(EventRow).where(EventRow.created_at < before))
    count: int = getattr(result, "rowcount", 0)
    return count

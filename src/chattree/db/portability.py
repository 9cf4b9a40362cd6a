"""Bulk reads and writes for import and export: a whole tree in a fixed number of
statements, and a user's conversations a batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.models import Conversation, Message, Role, Status, User


@dataclass(slots=True)
class NewMessage:
    parent: int | None  # position of the parent in the list; parents come first
    role: Role
    content: str
    created_at: datetime
    reasoning: str | None = None
    status: Status = Status.COMPLETE
    error: str | None = None
    model: str | None = None


async def insert_tree(
    session: AsyncSession, *, conversation: Conversation, rows: Sequence[NewMessage]
) -> list[int]:
    """Stores `rows` in `conversation` (already flushed); returns their ids, in order.

    The ids are taken first, in the order of the list, so that each row is inserted
    with its parent's id and the parents precede their children: then one multi-row
    INSERT writes every row, whatever their number."""
    ids = await take_ids(session, len(rows))
    depths: list[int] = []
    values = []
    for row, row_id in zip(rows, ids, strict=True):
        depth = 0 if row.parent is None else depths[row.parent] + 1
        depths.append(depth)
        values.append(
            {
                "id": row_id,
                "conversation_id": conversation.id,
                "parent_id": None if row.parent is None else ids[row.parent],
                "role": row.role,
                "content": row.content,
                "reasoning": row.reasoning,
                "status": row.status,
                "error": row.error,
                "model": row.model,
                "depth": depth,
                "created_at": row.created_at,
                "seq": 0,
            }
        )
    # render_nulls: rows whose None falls in other columns still share one statement.
    await session.execute(insert(Message).execution_options(render_nulls=True), values)
    return ids


async def take_ids(session: AsyncSession, count: int) -> list[int]:
    """`count` new message ids, increasing."""
    if session.get_bind().dialect.name == "postgresql":
        taken = await session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('messages', 'id'))"
                " FROM generate_series(1, :n)"
            ),
            {"n": count},
        )
        return sorted(taken)
    # SQLite: the unit of work holds the database's write lock (BEGIN IMMEDIATE), so
    # no one else takes ids meanwhile, and AUTOINCREMENT moves past explicit ids.
    used = await session.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = 'messages'"))
    newest = await session.scalar(select(func.max(Message.id)))
    start = max(used or 0, newest or 0)
    return list(range(start + 1, start + count + 1))


async def conversation_ids(session: AsyncSession, *, user_id: int) -> list[int]:
    """The user's conversations, oldest first: ids only, whatever their number."""
    rows = await session.scalars(
        select(Conversation.id).where(Conversation.user_id == user_id).order_by(Conversation.id)
    )
    return list(rows)


async def with_messages(
    session: AsyncSession, *, conversation_id: int, user_id: int
) -> tuple[Conversation, list[Message]] | None:
    conversation = await session.scalar(
        select(Conversation).where(
            Conversation.id == conversation_id, Conversation.user_id == user_id
        )
    )
    if conversation is None:
        return None
    messages = await session.scalars(
        select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
    )
    return conversation, list(messages)


async def user_id_named(session: AsyncSession, *, username: str) -> int | None:
    found: int | None = await session.scalar(select(User.id).where(User.username == username))
    return found

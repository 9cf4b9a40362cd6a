"""Bulk reads and writes for import and export: a whole tree in a fixed number of
statements, and a user's conversations a batch at a time."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select, update
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

    One multi-row INSERT writes them all (ids follow the list, so parents precede
    children), then one executemany UPDATE links each to its parent: the new ids are not
    known inside the INSERT."""
    depths: list[int] = []
    for row in rows:
        depths.append(0 if row.parent is None else depths[row.parent] + 1)
    result = await session.execute(
        insert(Message).returning(Message.id, sort_by_parameter_order=True),
        [
            {
                "conversation_id": conversation.id,
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
            for row, depth in zip(rows, depths, strict=True)
        ],
    )
    ids = list(result.scalars())
    links = [
        {"id": ids[i], "parent_id": ids[row.parent]}
        for i, row in enumerate(rows)
        if row.parent is not None
    ]
    if links:
        await session.execute(update(Message), links)
    return ids


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

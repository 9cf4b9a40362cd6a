"""Rows by id, as their owner sees them: someone else's row is as missing as one that
never existed, and the check is part of the query that loads it."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.models import Conversation, Message
from chattree.db.tree.records import MESSAGES, MessageRecord, record


def owned_by(user_id: int) -> ColumnElement[bool]:
    """Restricts a query on Message to the user's conversations."""
    return Message.conversation_id.in_(
        select(Conversation.id).where(Conversation.user_id == user_id)
    )


async def owned_message(session: AsyncSession, *, message_id: int, user_id: int) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id, owned_by(user_id)))


async def owned_conversations(
    session: AsyncSession, ids: Sequence[int], *, user_id: int
) -> dict[int, Conversation]:
    rows = await session.scalars(
        select(Conversation).where(Conversation.id.in_(ids), Conversation.user_id == user_id)
    )
    return {row.id: row for row in rows}


async def owned_messages(
    session: AsyncSession, ids: Sequence[int], *, user_id: int
) -> dict[int, MessageRecord]:
    rows = await session.execute(
        select(*MESSAGES.c).where(MESSAGES.c.id.in_(ids), owned_by(user_id))
    )
    return {row.id: record(row) for row in rows}

"""Rows by id, as their owner sees them: someone else's row is as missing as one that
never existed, and the check is part of the query that loads it."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chattree.db.models import Conversation, Message
from chattree.db.tree.batches import Newest, newest_id
from chattree.db.tree.records import MESSAGES, MessageRecord, record


def owned_by(user_id: int) -> ColumnElement[bool]:
    """Restricts a query on Message to the user's conversations."""
    return Message.conversation_id.in_(
        select(Conversation.id).where(Conversation.user_id == user_id)
    )


async def owned_message(session: AsyncSession, *, message_id: int, user_id: int) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id, owned_by(user_id)))


@dataclass(frozen=True, slots=True)
class Turn:
    """What a new turn under `message` needs: the message, its conversation, and the
    estimate of the conversation's root, the system prompt every request carries."""

    message: Message
    conversation: Conversation
    root_estimate: int


async def owned_turn(session: AsyncSession, *, message_id: int, user_id: int) -> Turn | None:
    """The user's message with its conversation and root's estimate, in one statement: a
    prompt reads them before its client may subscribe."""
    found = await session.execute(turn_statement(), {"message_id": message_id, "user_id": user_id})
    row = found.one_or_none()
    if row is None:
        return None
    message, conversation, estimate = row
    return Turn(message, conversation, estimate)


@functools.cache
def turn_statement() -> Select[Any]:
    """The read of `owned_turn`, built once (building it costs more than running it),
    with `message_id` and `user_id` bound at each execution."""
    root = aliased(Message, name="root")
    root_estimate = (
        select(root.token_estimate)
        .where(root.conversation_id == Message.conversation_id, root.parent_id.is_(None))
        .scalar_subquery()
    )
    return (
        select(Message, Conversation, root_estimate)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(
            Message.id == bindparam("message_id", type_=Integer),
            Conversation.user_id == bindparam("user_id", type_=Integer),
        )
    )


async def owned_conversations(
    session: AsyncSession, ids: Sequence[int], *, user_id: int
) -> dict[int, Conversation]:
    rows = await session.scalars(
        select(Conversation).where(Conversation.id.in_(ids), Conversation.user_id == user_id)
    )
    return {row.id: row for row in rows}


def with_newest_statement(ids: Sequence[int], *, user_id: int) -> Select[Conversation, int, int]:
    """Each conversation, and the id and depth of its newest message (NULL for none)."""
    newest = aliased(Message)
    return (
        select(Conversation, newest.id, newest.depth)
        .outerjoin(newest, newest.id == newest_id())
        .where(Conversation.id.in_(ids), Conversation.user_id == user_id)
    )


async def owned_with_newest(
    session: AsyncSession, ids: Sequence[int], *, user_id: int
) -> tuple[dict[int, Conversation], dict[int, Newest]]:
    """The user's conversations among `ids`, and the newest message of each, in one
    statement: a conversation is read for its branch more often than not, and the
    branch ends at its newest message."""
    rows = await session.execute(with_newest_statement(ids, user_id=user_id))
    conversations: dict[int, Conversation] = {}
    newest_of: dict[int, Newest] = {}
    for conversation, message_id, depth in rows:
        conversations[conversation.id] = conversation
        if message_id is not None:
            newest_of[conversation.id] = Newest(message_id, depth)
    return conversations, newest_of


async def owned_messages(
    session: AsyncSession, ids: Sequence[int], *, user_id: int
) -> dict[int, MessageRecord]:
    rows = await session.execute(
        select(*MESSAGES.c).where(MESSAGES.c.id.in_(ids), owned_by(user_id))
    )
    return {message.id: message for message in map(record, rows)}

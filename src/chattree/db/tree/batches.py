"""Batched reads for DataLoaders: one statement answers for every key of a level of a
GraphQL selection. Keys belong to rows the caller's ownership was already checked on
(a message's children, a conversation's root), so these do not check it again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import ScalarSelect, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chattree.db.models import Conversation, Message
from chattree.db.tree.records import MESSAGES, MessageRecord, record


@dataclass(frozen=True, slots=True)
class Newest:
    """A conversation's newest message, where its newest branch ends."""

    id: int
    depth: int


async def children_of_each(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, list[MessageRecord]]:
    """Each message's children, oldest first."""
    rows = await session.execute(
        select(*MESSAGES.c).where(MESSAGES.c.parent_id.in_(ids)).order_by(MESSAGES.c.id)
    )
    found: dict[int, list[MessageRecord]] = {i: [] for i in ids}
    for message in map(record, rows):
        found[cast(int, message.parent_id)].append(message)
    return found


async def child_counts(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Message.parent_id, func.count())
        .where(Message.parent_id.in_(ids))
        .group_by(Message.parent_id)
    )
    return {parent: count for parent, count in rows if parent is not None}


async def roots_of(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, MessageRecord]:
    rows = await session.execute(
        select(*MESSAGES.c).where(
            MESSAGES.c.conversation_id.in_(conversation_ids), MESSAGES.c.parent_id.is_(None)
        )
    )
    return {message.conversation_id: message for message in map(record, rows)}


async def message_counts(session: AsyncSession, conversation_ids: Sequence[int]) -> dict[int, int]:
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .where(Message.conversation_id.in_(conversation_ids))
        .group_by(Message.conversation_id)
    )
    return {conversation: count for conversation, count in rows}


async def messages_of(
    session: AsyncSession, conversation_ids: Sequence[int]
) -> dict[int, list[MessageRecord]]:
    """Every message of each conversation, oldest first."""
    rows = await session.execute(
        select(*MESSAGES.c)
        .where(MESSAGES.c.conversation_id.in_(conversation_ids))
        .order_by(MESSAGES.c.id)
    )
    found: dict[int, list[MessageRecord]] = {i: [] for i in conversation_ids}
    for message in map(record, rows):
        found[message.conversation_id].append(message)
    return found


def newest_id() -> ScalarSelect[int]:
    """The id of the newest message of the `Conversation` row it is correlated with: a
    lone max(), which both databases answer from the end of the (conversation_id, id)
    index, where a max() grouped over several conversations reads every entry of each."""
    latest = aliased(Message)
    return (
        select(func.max(latest.id))
        .where(latest.conversation_id == Conversation.id)
        .correlate(Conversation)
        .scalar_subquery()
    )


async def newest_of(session: AsyncSession, conversation_ids: Sequence[int]) -> dict[int, Newest]:
    """Each conversation's newest message: the largest id, found by index."""
    owners = select(newest_id()).where(Conversation.id.in_(conversation_ids))
    rows = await session.execute(
        select(Message.conversation_id, Message.id, Message.depth).where(Message.id.in_(owners))
    )
    return {conversation: Newest(id, depth) for conversation, id, depth in rows}

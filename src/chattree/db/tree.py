"""Queries over the message tree: each is one statement (recursive CTEs), same SQL on
SQLite and PostgreSQL, and none of them loads more of the tree than it returns."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chattree.db.models import Conversation, Message


def owned_by(user_id: int) -> ColumnElement[bool]:
    """Restricts a query on Message to the user's conversations."""
    return Message.conversation_id.in_(
        select(Conversation.id).where(Conversation.user_id == user_id)
    )


async def owned_message(session: AsyncSession, *, message_id: int, user_id: int) -> Message | None:
    return await session.scalar(select(Message).where(Message.id == message_id, owned_by(user_id)))


def path_statement(end: int | ColumnElement[int]) -> Select[Message]:
    """The messages from the root down to `end`, root first."""
    up = select(Message.id, Message.parent_id).where(Message.id == end).cte("up", recursive=True)
    parent = aliased(Message)
    up = up.union_all(select(parent.id, parent.parent_id).where(parent.id == up.c.parent_id))
    return select(Message).join(up, Message.id == up.c.id).order_by(Message.depth)


def newest_below(message_id: int) -> ColumnElement[int]:
    """The id of the newest message among `message_id` and its descendants."""
    down = select(Message.id).where(Message.id == message_id).cte("down", recursive=True)
    child = aliased(Message)
    down = down.union_all(select(child.id).where(child.parent_id == down.c.id))
    return select(func.max(down.c.id)).scalar_subquery()


async def path(session: AsyncSession, *, message_id: int) -> Sequence[Message]:
    return (await session.scalars(path_statement(message_id))).all()


async def branch_through(session: AsyncSession, *, message_id: int) -> Sequence[Message]:
    """Root to the newest message in the subtree of `message_id`: one statement."""
    return (await session.scalars(path_statement(newest_below(message_id)))).all()


async def newest_id_below(session: AsyncSession, *, message_id: int) -> int:
    newest: int | None = await session.scalar(select(newest_below(message_id)))
    assert newest is not None
    return newest


# Batched forms, for DataLoaders: one statement answers for many start messages.


async def paths_of(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Message]]:
    """For each id, the messages from the root down to it."""
    up = (
        select(Message.id.label("start"), Message.id, Message.parent_id)
        .where(Message.id.in_(ids))
        .cte("up", recursive=True)
    )
    parent = aliased(Message)
    up = up.union_all(
        select(up.c.start, parent.id, parent.parent_id).where(parent.id == up.c.parent_id)
    )
    rows = await session.execute(
        select(up.c.start, Message).join(up, Message.id == up.c.id).order_by(Message.depth)
    )
    found: dict[int, list[Message]] = {message_id: [] for message_id in ids}
    for start, message in rows:
        found[start].append(message)
    return found


async def newest_below_each(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    """For each id, the newest message among it and its descendants."""
    down = (
        select(Message.id.label("start"), Message.id)
        .where(Message.id.in_(ids))
        .cte("down", recursive=True)
    )
    child = aliased(Message)
    down = down.union_all(select(down.c.start, child.id).where(child.parent_id == down.c.id))
    rows = await session.execute(select(down.c.start, func.max(down.c.id)).group_by(down.c.start))
    return {start: newest for start, newest in rows}


async def descendants_of(
    session: AsyncSession, ids: Sequence[int], max_depth: int | None
) -> dict[int, list[Message]]:
    """For each id, its descendants down to `max_depth` levels, shallowest first."""
    found: dict[int, list[Message]] = {message_id: [] for message_id in ids}
    if max_depth == 0:
        return found
    down = (
        select(Message.id.label("start"), Message.id, literal(0).label("level"))
        .where(Message.id.in_(ids))
        .cte("down", recursive=True)
    )
    child = aliased(Message)
    step = select(down.c.start, child.id, (down.c.level + 1).label("level")).where(
        child.parent_id == down.c.id
    )
    if max_depth is not None:
        step = step.where(down.c.level < max_depth)
    down = down.union_all(step)
    rows = await session.execute(
        select(down.c.start, Message)
        .join(down, Message.id == down.c.id)
        .where(down.c.level > 0)
        .order_by(Message.depth, Message.id)
    )
    for start, message in rows:
        found[start].append(message)
    return found

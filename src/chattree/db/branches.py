"""Set-based writes on branches: copying a path into a new conversation and finding a
subtree. Each is a fixed number of statements whatever the depth."""

from __future__ import annotations

from sqlalchemy import CTE, delete, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chattree.db.models import Message, Status

COPIED = (
    "role",
    "content",
    "reasoning",
    "status",
    "error",
    "model",
    "depth",
    "created_at",
    "seq",
)


async def copy_path(session: AsyncSession, *, end: int, conversation_id: int) -> int:
    """Copies the messages from the root down to `end` into `conversation_id`; returns the
    id of the copy of `end`.

    One INSERT ... SELECT over the path's CTE writes every row; the copies are linked in
    one UPDATE afterwards, because a path has exactly one message per depth and the new
    ids are not known inside the INSERT."""
    up = select(Message.id, Message.parent_id).where(Message.id == end).cte("up", recursive=True)
    parent = aliased(Message)
    up = up.union_all(select(parent.id, parent.parent_id).where(parent.id == up.c.parent_id))
    source = (
        select(literal(conversation_id), *(getattr(Message, name) for name in COPIED))
        .join(up, Message.id == up.c.id)
        .order_by(Message.depth)
    )
    await session.execute(insert(Message).from_select(["conversation_id", *COPIED], source))
    above = aliased(Message)
    await session.execute(
        update(Message)
        .where(Message.conversation_id == conversation_id, Message.depth > 0)
        .values(
            parent_id=select(above.id)
            .where(above.conversation_id == conversation_id, above.depth == Message.depth - 1)
            .scalar_subquery()
        )
        .execution_options(synchronize_session=False)
    )
    copy: int | None = await session.scalar(
        select(func.max(Message.id)).where(Message.conversation_id == conversation_id)
    )
    assert copy is not None
    return copy


def subtree(message_id: int) -> CTE:
    """The ids of `message_id` and all of its descendants."""
    down = select(Message.id).where(Message.id == message_id).cte("down", recursive=True)
    child = aliased(Message)
    return down.union_all(select(child.id).where(child.parent_id == down.c.id))


async def streaming_in_subtree(session: AsyncSession, *, message_id: int) -> list[int]:
    below = subtree(message_id)
    rows = await session.scalars(
        select(Message.id)
        .join(below, Message.id == below.c.id)
        .where(Message.status == Status.STREAMING)
    )
    return list(rows)


async def delete_subtree(session: AsyncSession, *, message_id: int) -> None:
    below = subtree(message_id)
    await session.execute(
        delete(Message)
        .where(Message.id.in_(select(below.c.id)))
        .execution_options(synchronize_session=False)
    )


async def exists(session: AsyncSession, *, message_id: int) -> bool:
    # A query, not session.get(): the identity map still holds rows a bulk DELETE removed.
    found = await session.scalar(select(Message.id).where(Message.id == message_id))
    return found is not None

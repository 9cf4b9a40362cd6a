"""Set-based writes on branches: copying a path into a new conversation and finding a
subtree. Each is a fixed number of statements whatever the depth."""

from __future__ import annotations

from itertools import pairwise

from sqlalchemy import CTE, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db import usage
from chattree.db.models import Message, Status
from chattree.db.tree.paths import walk_up
from chattree.db.tree.subtrees import is_postgres, walk_down

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
    "token_estimate",
    "context_message_count",
    "finish_reason",
    "rating",
    "feedback",
)
# Not copied: prompt_tokens and completion_tokens. The copies were not generated, so the
# fork's usage (a sum over its tree) starts at nothing.


async def copy_path(session: AsyncSession, *, end: int, conversation_id: int) -> int:
    """Copies the messages from the root down to `end` into `conversation_id`; returns the
    id of the copy of `end`.

    One INSERT ... SELECT over the path's CTE writes every row; the copies are linked
    afterwards, because a path has exactly one message per depth and the new ids are not
    known inside the INSERT."""
    up = walk_up(Message.id == end)
    # Until they are linked, copies keep their originals' parents: the conversation has
    # one root at every moment, as its unique index requires.
    columns = ["parent_id", *COPIED]
    source = select(literal(conversation_id), *(up.c[name] for name in columns))
    await session.execute(
        insert(Message).from_select(["conversation_id", *columns], source.order_by(up.c.depth))
    )
    copies = (
        (
            await session.execute(
                select(Message.id)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.depth)
            )
        )
        .scalars()
        .all()
    )
    # Linked by primary key in one executemany: matching each copy to the one a depth
    # above in SQL would look up depths, which no index covers, once per row.
    links = [{"id": child, "parent_id": parent} for parent, child in pairwise(copies)]
    if links:
        await session.execute(update(Message).execution_options(synchronize_session=False), links)
    return copies[-1]


def subtree(session: AsyncSession, message_id: int) -> CTE:
    """The ids of `message_id` and all of its descendants."""
    return walk_down(Message.id == message_id, postgres=is_postgres(session))


async def streaming_in_subtree(session: AsyncSession, *, message_id: int) -> list[int]:
    below = subtree(session, message_id)
    rows = await session.scalars(
        select(Message.id)
        .join(below, Message.id == below.c.id)
        .where(Message.status == Status.STREAMING)
    )
    return list(rows)


async def delete_subtree(session: AsyncSession, *, message_id: int, conversation_id: int) -> None:
    """Deletes the subtree, taking its replies' usage back from the sums."""
    await usage.delete_messages(
        session, ids=subtree(session, message_id), conversation_id=conversation_id
    )


async def exists(session: AsyncSession, *, message_id: int) -> bool:
    # A query, not session.get(): the identity map still holds rows a bulk DELETE removed.
    found = await session.scalar(select(Message.id).where(Message.id == message_id))
    return found is not None

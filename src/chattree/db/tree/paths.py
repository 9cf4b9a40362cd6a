"""Walks up the tree: a message's path to the root, a page of it, and the part of it that
fits the model's context window. Each is one recursive CTE that carries whole rows and
stops as soon as it has what it returns, so its cost is that of its answer, never of
the depth of the branch it is taken from.

Every step of a walk up follows `parent_id` to a primary key, which both databases look
up by index whatever their planner statistics say.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from sqlalchemy import CTE, ColumnElement, Integer, Select, bindparam, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from chattree.db.models import Message
from chattree.db.tree.records import MESSAGES, MessageRecord, columns_of, started


def walk_up(starts: ColumnElement[bool], *, last: int | ColumnElement[int] | None = None) -> CTE:
    """The rows from each message matching `starts` up to the root, or `last` of them:
    every column of `messages`, plus `start` (the id walked from) and `steps`."""
    first = select(MESSAGES.c.id.label("start"), *MESSAGES.c, literal(1).label("steps")).where(
        starts
    )
    up = first.cte("up", recursive=True)
    parent = MESSAGES.alias("parent")
    step = select(up.c.start, *parent.c, (up.c.steps + 1).label("steps")).where(
        parent.c.id == up.c.parent_id
    )
    if last is not None:
        step = step.where(up.c.steps < last)
    return up.union_all(step)


def rows_of(cte: CTE) -> type[Message]:
    """The CTE's rows loaded as Message objects."""
    return aliased(Message, cte)


def path_statement(end: int | ColumnElement[int], *, last: int | None = None) -> Select[Message]:
    """The messages from the root down to `end` (the last `last` of them), root first."""
    up = walk_up(MESSAGES.c.id == end, last=last)
    return select(rows_of(up)).order_by(up.c.depth)


async def path(
    session: AsyncSession, *, message_id: int, last: int | None = None
) -> Sequence[Message]:
    return (await session.scalars(path_statement(message_id, last=last))).all()


async def paths_of(
    session: AsyncSession, ends: Sequence[int], *, last: int | None = None
) -> dict[int, list[MessageRecord]]:
    """For each id, the messages from the root down to it (the last `last`), root first."""
    parameters: dict[str, object] = {"ends": list(ends)}
    if last is not None:
        parameters["last"] = last
    rows = await session.execute(paths_statement(limited=last is not None), parameters)
    found: dict[int, list[MessageRecord]] = {end: [] for end in ends}
    for start, message in started(rows):
        found[start].append(message)
    return found


@functools.cache
def paths_statement(*, limited: bool) -> Select[Any]:
    """The walk of `paths_of`, built once per shape, with `ends` (and `last`) bound at
    each execution: every read of a branch or a path runs it."""
    ends = bindparam("ends", expanding=True, type_=Integer)
    last = bindparam("last", type_=Integer) if limited else None
    up = walk_up(MESSAGES.c.id.in_(ends), last=last)
    return select(up.c.start, *columns_of(up)).order_by(up.c.depth)


@functools.cache
def context_window_statement() -> Select[Message]:
    """The walk of `context_window`, built once (building a recursive CTE costs more
    than running it on a short branch), with `message_id` and `budget` bound at each
    execution."""
    message_id = bindparam("message_id", type_=Integer)
    budget = bindparam("budget", type_=Integer)
    root = MESSAGES.alias("root")
    root_estimate = (
        select(root.c.token_estimate)
        .where(root.c.conversation_id == MESSAGES.c.conversation_id, root.c.parent_id.is_(None))
        .scalar_subquery()
    )
    first = select(*MESSAGES.c, (MESSAGES.c.token_estimate + root_estimate).label("total")).where(
        MESSAGES.c.id == message_id, MESSAGES.c.parent_id.is_not(None)
    )
    up = first.cte("fit", recursive=True)
    parent = MESSAGES.alias("parent")
    total = up.c.total + parent.c.token_estimate
    up = up.union_all(
        select(*parent.c, total).where(
            parent.c.id == up.c.parent_id, parent.c.parent_id.is_not(None), total <= budget
        )
    )
    # The root joins the walk in the same statement, found by the index of roots.
    prompt = MESSAGES.alias("prompt")
    conversation = select(prompt.c.conversation_id).where(prompt.c.id == message_id)
    roots = select(*MESSAGES.c).where(
        MESSAGES.c.conversation_id == conversation.scalar_subquery(),
        MESSAGES.c.parent_id.is_(None),
    )
    window = union_all(select(*columns_of(up)), roots).subquery("window")
    return select(aliased(Message, window)).order_by(window.c.depth)


async def context_window(session: AsyncSession, *, message_id: int, budget: int) -> list[Message]:
    """What of the path to `message_id` fits `budget` estimated tokens: the root, then
    the newest messages whose estimates, with the root's, add up to no more than the
    budget. `message_id` itself is always there, fitting or not: the caller decides.

    The walk sums the estimates as it climbs and stops at the first message that would
    overflow, so it reads only what it returns. It stops below the root, which is added
    on its own, so the root is sent however long the branch is."""
    window = await session.scalars(
        context_window_statement(), {"message_id": message_id, "budget": budget}
    )
    found = list(window)
    # Nothing, or the root alone: `message_id` is gone, or is the root, which the walk
    # never starts from.
    return found if len(found) > 1 else []

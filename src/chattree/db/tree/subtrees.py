"""Walks down the tree: the newest message below a message, and its descendants.

A step down looks up the children of the messages found so far by `parent_id`. SQLite
does that through the `parent_id` index. PostgreSQL's planner may not: without
statistics on `messages` (a fresh database, an import, autovacuum off or behind) it
guesses that a `parent_id` matches 0.5% of the table and joins each step by hashing a
sequential scan of the whole table, O(table) per level: 12 s for a 10,000-deep branch
of a 10,000-row table. Asking for each message's children in a LATERAL subquery that
cannot be flattened into the join (OFFSET 0) leaves it one choice per step, an index
scan, whatever its statistics say (22 ms for the same walk).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import CTE, ColumnElement, FromClause, Select, func, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.models import Message
from chattree.db.tree.paths import path_statement
from chattree.db.tree.records import MESSAGES, MessageRecord, columns_of, started


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def children_of(walk: CTE, names: Sequence[str], *, postgres: bool) -> FromClause:
    """The rows whose parent is the walk's current row, to join to `walk`."""
    child = MESSAGES.alias("child")
    if not postgres:
        return child
    columns = (child.c[name] for name in names)
    return select(*columns).where(child.c.parent_id == walk.c.id).offset(0).lateral("child")


def step_condition(walk: CTE, children: FromClause, *, postgres: bool) -> ColumnElement[bool]:
    # The LATERAL subquery has its join condition inside it already.
    return true() if postgres else children.c.parent_id == walk.c.id


def walk_down(
    starts: ColumnElement[bool],
    *,
    postgres: bool,
    levels: int | None = None,
    whole_rows: bool = False,
) -> CTE:
    """Each message matching `starts` and its descendants, `levels` deep at most: `start`
    (the id walked from), `id`, `level` (0 for the start), and with `whole_rows` every
    other column of `messages` too."""
    names = [column.name for column in MESSAGES.c] if whole_rows else ["id"]
    first = select(
        MESSAGES.c.id.label("start"),
        *(MESSAGES.c[name] for name in names),
        literal(0).label("level"),
    ).where(starts)
    down = first.cte("down", recursive=True)
    children = children_of(down, names, postgres=postgres)
    step = select(
        down.c.start, *(children.c[name] for name in names), (down.c.level + 1).label("level")
    ).select_from(down.join(children, step_condition(down, children, postgres=postgres)))
    if levels is not None:
        step = step.where(down.c.level < levels)
    return down.union_all(step)


def newest_below(message_id: int, *, postgres: bool) -> ColumnElement[int]:
    """The id of the newest message among `message_id` and its descendants."""
    down = walk_down(MESSAGES.c.id == message_id, postgres=postgres)
    return select(func.max(down.c.id)).scalar_subquery()


def branch_statement(message_id: int, *, postgres: bool) -> Select[Message]:
    return path_statement(newest_below(message_id, postgres=postgres))


async def branch_through(session: AsyncSession, *, message_id: int) -> Sequence[Message]:
    """Root to the newest message in the subtree of `message_id`: one statement."""
    statement = branch_statement(message_id, postgres=is_postgres(session))
    return (await session.scalars(statement)).all()


async def newest_id_below(session: AsyncSession, *, message_id: int) -> int:
    newest: int | None = await session.scalar(
        select(newest_below(message_id, postgres=is_postgres(session)))
    )
    assert newest is not None
    return newest


async def newest_below_each(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    """For each id, the newest message among it and its descendants."""
    down = walk_down(MESSAGES.c.id.in_(ids), postgres=is_postgres(session))
    rows = await session.execute(select(down.c.start, func.max(down.c.id)).group_by(down.c.start))
    return {start: newest for start, newest in rows}


async def descendants_of(
    session: AsyncSession, ids: Sequence[int], max_depth: int | None
) -> dict[int, list[MessageRecord]]:
    """For each id, its descendants down to `max_depth` levels, shallowest first."""
    found: dict[int, list[MessageRecord]] = {message_id: [] for message_id in ids}
    if max_depth == 0:
        return found
    down = walk_down(
        MESSAGES.c.id.in_(ids), postgres=is_postgres(session), levels=max_depth, whole_rows=True
    )
    rows = await session.execute(
        select(down.c.start, *columns_of(down))
        .where(down.c.level > 0)
        .order_by(down.c.depth, down.c.id)
    )
    for start, message in started(rows):
        found[start].append(message)
    return found

"""PostgreSQL walks the tree by index even with no planner statistics at all: a fresh
database, a bulk import, autovacuum off. A walk that fell back to scanning `messages`
at every step would cost O(rows x depth)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy import Select, insert, select, text
from sqlalchemy.dialects import postgresql

from chattree.db import tree
from chattree.db.engine import Database, create_database
from chattree.db.migrate import upgrade
from chattree.db.models import Conversation, Message, Role, Status, User
from chattree.db.tree import owners, paths, subtrees
from chattree.db.types import utcnow
from chattree.settings import Settings

DEPTH = 3000


@pytest.fixture
async def unanalysed(db_url: str) -> AsyncIterator[tuple[Database, list[int]]]:
    """A never-analysed PostgreSQL database holding one branch DEPTH messages deep."""
    if not db_url.startswith("postgresql"):
        pytest.skip("planner statistics are PostgreSQL's")
    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db)
        async with db.transaction() as session:
            await session.execute(text("ALTER TABLE messages SET (autovacuum_enabled = false)"))
            user = User(username="planner", password="plain$x", token_version=0)
            session.add(user)
            await session.flush()
            conversation = Conversation(user_id=user.id, title="t", model="m")
            session.add(conversation)
            await session.flush()
            ids: list[int] = []
            for depth in range(DEPTH):
                added = await session.execute(
                    insert(Message)
                    .values(
                        conversation_id=conversation.id,
                        parent_id=ids[-1] if ids else None,
                        role=Role.SYSTEM if depth == 0 else Role.USER,
                        content="words " * 40,
                        status=Status.COMPLETE,
                        depth=depth,
                        created_at=utcnow(),
                    )
                    .returning(Message.id)
                )
                ids.append(added.scalar_one())
        async with db.reader() as session:
            analysed = await session.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = 'messages'")
            )
        assert analysed is not None and analysed < 0, "the table must have no statistics"
        yield db, ids
    finally:
        await db.dispose()


def scans(plan: Any) -> Iterator[tuple[str, str | None]]:
    if isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan["Node Type"], plan.get("Relation Name")
        for value in plan.values():
            yield from scans(value)
    elif isinstance(plan, list):
        for item in plan:
            yield from scans(item)


async def sequential_scans(db: Database, statement: Select[Any]) -> list[tuple[str, str | None]]:
    sql = statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    async with db.reader() as session:
        plan = await session.scalar(text(f"EXPLAIN (FORMAT JSON) {sql}"))
    found = json.loads(plan) if isinstance(plan, str) else plan
    return [scan for scan in scans(found) if scan == ("Seq Scan", "messages")]


async def test_walks_up_use_the_primary_key(unanalysed: tuple[Database, list[int]]) -> None:
    db, ids = unanalysed
    assert await sequential_scans(db, paths.path_statement(ids[-1])) == []
    assert await sequential_scans(db, paths.path_statement(ids[-1], last=50)) == []


async def test_walks_down_use_the_parent_index(unanalysed: tuple[Database, list[int]]) -> None:
    db, ids = unanalysed
    assert await sequential_scans(db, subtrees.branch_statement(ids[0], postgres=True)) == []
    down = subtrees.walk_down(Message.id == ids[0], postgres=True, whole_rows=True)
    assert await sequential_scans(db, select(*down.c)) == []


async def test_a_conversation_is_read_with_its_newest_message_by_index(
    unanalysed: tuple[Database, list[int]],
) -> None:
    db, ids = unanalysed
    async with db.reader() as session:
        conversation_id, user_id = (
            await session.execute(
                select(Conversation.id, Conversation.user_id)
                .join(Message, Message.conversation_id == Conversation.id)
                .where(Message.id == ids[0])
            )
        ).one()
        _, newest = await tree.owned_with_newest(session, [conversation_id], user_id=user_id)
    assert newest[conversation_id].id == ids[-1]
    statement = owners.with_newest_statement([conversation_id], user_id=user_id)
    assert await sequential_scans(db, statement) == []


async def test_the_walks_answer_as_on_any_database(unanalysed: tuple[Database, list[int]]) -> None:
    db, ids = unanalysed
    async with db.reader() as session:
        assert [m.id for m in await tree.branch_through(session, message_id=ids[0])] == ids
        below = await tree.descendants_of(session, [ids[-3]], None)
        assert [m.id for m in below[ids[-3]]] == ids[-2:]
        page = await tree.paths_of(session, [ids[-1]], last=50)
        assert [m.id for m in page[ids[-1]]] == ids[-50:]
        window = await tree.context_window(session, message_id=ids[-1], budget=1000)
        assert [m.id for m in window] == [ids[0], *ids[-14:]]

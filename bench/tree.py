"""The tree design claims of DESIGN.md ("The tree"), measured.

(a) Appending a message writes one row whatever its depth: an append at depth 1000
    against one at depth 10 (ratio ≈ 1).
(b) A branch is one recursive CTE: `tree.path` and `tree.branch_through` on a chain
    1000 messages deep against a naive walk with one SELECT per message (speed-up).
(c) The statements of a GraphQL request grow with the depth of its selection, not with
    the number of messages: a 4-level `children` selection through the real app over a
    tree of 100 and of 1000 messages (statement counts, and the time ratio).

Run from the project root: .venv/bin/python -m bench.tree [--db sqlite|postgres]
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tests.fake_model import FakeModelServer
from tests.harness import Api, running_server

from bench import (
    SIGNATURE,
    header,
    median_ms,
    paired_ratio,
    parse_args,
    scratch_database,
    timed,
)
from chattree.db import tree
from chattree.db.engine import Database, create_database
from chattree.db.migrate import upgrade
from chattree.db.models import Conversation, Message, Role, Status, User
from chattree.db.types import utcnow
from chattree.settings import Settings

DEEP = 1000
SHALLOW = 10
APPENDS = 200  # of each depth
CTE_RUNS = 20
NAIVE_RUNS = 5
TREE_SIZES = (100, 1000)
TREE_LEVELS = 4
REQUESTS = 15  # of each tree size
TEXT = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. " * 3

NODE_FIELDS = "id role content status depth childCount siblingIndex siblingCount"
CHILDREN_QUERY = f"""
fragment Node on Message {{ {NODE_FIELDS} }}
query($id: ID!) {{
  conversation(id: $id) {{
    root {{ ...Node children {{ ...Node children {{ ...Node children {{ ...Node
      children {{ ...Node }} }} }} }} }}
  }}
}}
"""


# Rows


def role_at(depth: int) -> Role:
    if depth == 0:
        return Role.SYSTEM
    return Role.USER if depth % 2 else Role.ASSISTANT


def message_row(conversation_id: int, parent_id: int | None, depth: int) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "parent_id": parent_id,
        "role": role_at(depth),
        "content": f"depth {depth}. {TEXT}",
        "status": Status.COMPLETE,
        "model": "bench-model" if role_at(depth) is Role.ASSISTANT else None,
        "depth": depth,
        "created_at": utcnow(),
    }


async def add_user(session: AsyncSession, username: str) -> int:
    result = await session.execute(
        insert(User).values(username=username, password="plain$unused").returning(User.id)
    )
    user_id: int = result.scalar_one()
    return user_id


async def add_conversation(session: AsyncSession, user_id: int) -> int:
    now = utcnow()
    result = await session.execute(
        insert(Conversation)
        .values(user_id=user_id, title="bench", model="bench-model", created_at=now, updated_at=now)
        .returning(Conversation.id)
    )
    conversation_id: int = result.scalar_one()
    return conversation_id


async def add_chain(db: Database, user_id: int, depth: int) -> list[int]:
    """A new conversation that is one branch from depth 0 to `depth`: its ids, root first."""
    ids: list[int] = []
    async with db.transaction() as session:
        conversation_id = await add_conversation(session, user_id)
        parent: int | None = None
        for level in range(depth + 1):
            parent = await session.scalar(
                insert(Message)
                .values(message_row(conversation_id, parent, level))
                .returning(Message.id)
            )
            assert parent is not None
            ids.append(parent)
    return ids


def level_sizes(total: int, levels: int) -> list[int]:
    """How many messages each level below the root holds so that the tree has `total`
    messages: full levels of the smallest fan-out that fits, the last one takes the rest."""
    fanout = 1
    while sum(fanout**k for k in range(1, levels + 1)) < total - 1:
        fanout += 1
    sizes = [fanout**k for k in range(1, levels)]
    sizes.append(total - 1 - sum(sizes))
    if sizes[-1] < 1:
        raise ValueError(f"no {levels}-level tree of {total} messages with full levels")
    return sizes


async def add_tree(db: Database, user_id: int, total: int, levels: int) -> int:
    """A new conversation whose `total` messages fill `levels` levels below the root."""
    async with db.transaction() as session:
        conversation_id = await add_conversation(session, user_id)
        parents = [
            await session.scalar(
                insert(Message).values(message_row(conversation_id, None, 0)).returning(Message.id)
            )
        ]
        for depth, size in enumerate(level_sizes(total, levels), start=1):
            rows = [
                message_row(conversation_id, parents[i % len(parents)], depth) for i in range(size)
            ]
            result = await session.scalars(
                insert(Message).returning(Message.id, sort_by_parameter_order=True), rows
            )
            parents = list(result.all())
    return conversation_id


async def analyze(db: Database) -> None:
    """Gives PostgreSQL's planner statistics, as autovacuum does within a minute of a bulk
    load. Without them it plans each step of a recursive CTE as a sequential scan of the
    whole table (O(rows x depth)); SQLite, which never analyzes on its own, is left as is."""
    if not db.is_sqlite:
        async with db.engine.connect() as connection:
            await connection.execute(text("ANALYZE messages"))
            await connection.commit()


# Measuring


@asynccontextmanager
async def statements(engine: AsyncEngine) -> AsyncIterator[list[str]]:
    """Every SQL statement the engine runs inside the block."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


def writes(seen: Sequence[str]) -> int:
    return sum(s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")) for s in seen)


def queries(seen: Sequence[str]) -> int:
    """Statements that read or write rows (not BEGIN, COMMIT or SQLite's pragmas)."""
    return sum(
        s.lstrip().upper().startswith(("SELECT", "WITH", "INSERT", "UPDATE", "DELETE"))
        for s in seen
    )


# (a) appending


async def append(db: Database, *, user_id: int, parent_id: int) -> None:
    """What prompting does to the tree: load the parent (owned), add a row under it."""
    async with db.transaction() as session:
        parent = await tree.owned_message(session, message_id=parent_id, user_id=user_id)
        assert parent is not None
        session.add(Message(**message_row(parent.conversation_id, parent.id, parent.depth + 1)))


async def bench_append(db: Database, user_id: int) -> None:
    chain = await add_chain(db, user_id, DEEP)
    parents = {SHALLOW: chain[SHALLOW - 1], DEEP: chain[DEEP - 1]}
    samples: dict[int, list[float]] = {SHALLOW: [], DEEP: []}
    counted: dict[int, list[str]] = {}
    for depth, parent_id in parents.items():  # warm-up, and what one append runs
        async with statements(db.engine) as seen:
            await append(db, user_id=user_id, parent_id=parent_id)
        counted[depth] = seen
    for run in range(APPENDS):
        order = (SHALLOW, DEEP) if run % 2 else (DEEP, SHALLOW)
        for depth in order:
            samples[depth].append(
                await timed(partial(append, db, user_id=user_id, parent_id=parents[depth]))
            )
    print("\n(a) Appending one message: a transaction that loads the parent and inserts a row")
    for depth in (SHALLOW, DEEP):
        print(
            f"    new message at depth {depth:>4}: {median_ms(samples[depth]):7.2f} ms "
            f"(median of {APPENDS}), {writes(counted[depth])} row written, "
            f"{queries(counted[depth])} statements"
        )
    ratio = paired_ratio(samples[DEEP], samples[SHALLOW])
    print(f"    ratio depth {DEEP} / depth {SHALLOW}: {ratio:.2f}   (design: ≈ 1)")


# (b) reading a branch


async def naive_path(session: AsyncSession, message_id: int) -> list[Message]:
    """The baseline: follow parent pointers, one SELECT per message."""
    found: list[Message] = []
    current: int | None = message_id
    while current is not None:
        row = await session.scalar(select(Message).where(Message.id == current))
        assert row is not None
        found.append(row)
        current = row.parent_id
    found.reverse()
    return found


async def naive_branch_through(session: AsyncSession, message_id: int) -> list[Message]:
    """The baseline: walk the subtree for its newest message (one SELECT of children per
    message), then its parent pointers up (one SELECT per message)."""
    newest, pending = message_id, [message_id]
    while pending:
        current = pending.pop()
        newest = max(newest, current)
        children = await session.scalars(select(Message.id).where(Message.parent_id == current))
        pending.extend(children)
    return await naive_path(session, newest)


async def bench_branch(db: Database, user_id: int) -> None:
    chain = await add_chain(db, user_id, DEEP - 1)  # DEEP messages
    await analyze(db)
    root, leaf = chain[0], chain[-1]

    async def cte_path() -> Sequence[Message]:
        async with db.reader() as session:
            return await tree.path(session, message_id=leaf)

    async def walk_path() -> Sequence[Message]:
        async with db.reader() as session:
            return await naive_path(session, leaf)

    async def cte_branch() -> Sequence[Message]:
        async with db.reader() as session:
            return await tree.branch_through(session, message_id=root)

    async def walk_branch() -> Sequence[Message]:
        async with db.reader() as session:
            return await naive_branch_through(session, root)

    print(f"\n(b) Reading a branch {DEEP} messages deep: one recursive CTE vs a naive walk")
    for name, cte, walk in (
        ("path(leaf)", cte_path, walk_path),
        ("branch_through(root)", cte_branch, walk_branch),
    ):
        counts: list[int] = []
        for read in (cte, walk):  # warm-up, the statement count, and the same answer
            async with statements(db.engine) as seen:
                rows = await read()
            if [row.id for row in rows] != chain:
                raise SystemExit(f"{name}: {read.__name__} read the wrong branch")
            counts.append(queries(seen))
        cte_runs = [await timed(cte) for _ in range(CTE_RUNS)]
        walk_runs = [await timed(walk) for _ in range(NAIVE_RUNS)]
        print(
            f"    {name:<21} CTE {median_ms(cte_runs):8.2f} ms ({counts[0]} statement), "
            f"naive {median_ms(walk_runs):8.2f} ms ({counts[1]} statements): "
            f"CTE {median_ms(walk_runs) / median_ms(cte_runs):.0f}x faster"
        )


# (c) a GraphQL selection through the real app


def count_messages(node: dict[str, Any]) -> int:
    return 1 + sum(count_messages(child) for child in node.get("children", ()))


async def bench_graphql(url: str) -> None:
    async with FakeModelServer() as fake:
        settings = Settings(
            db_url=url,
            signature=SIGNATURE,
            model_base_url=fake.base_url,
            # No background statements while requests are being counted.
            heartbeat_interval=3600,
            stale_after=7200,
            shutdown_grace=0,
        )
        async with running_server(settings) as api:
            await graphql_requests(api)


async def graphql_requests(api: Api) -> None:
    token = await api.register("benchuser")
    user_id = int((await api.ok("{ me { id } }", token=token))["me"]["id"])
    conversations = {
        size: await add_tree(api.services.db, user_id, size, TREE_LEVELS) for size in TREE_SIZES
    }
    await analyze(api.services.db)

    async def request(size: int) -> None:
        data = await api.ok(CHILDREN_QUERY, {"id": str(conversations[size])}, token=token)
        if count_messages(data["conversation"]["root"]) != size:
            raise SystemExit(f"the selection over {size} messages did not return them all")

    counts: dict[int, int] = {}
    for size in TREE_SIZES:  # warm-up, and the statements of one request
        async with api.counting_statements() as seen:
            await request(size)
        counts[size] = queries(seen)
    samples: dict[int, list[float]] = {size: [] for size in TREE_SIZES}
    for run in range(REQUESTS):
        for size in TREE_SIZES if run % 2 else reversed(TREE_SIZES):
            samples[size].append(await timed(partial(request, size)))
    small, large = TREE_SIZES
    print(
        f"\n(c) GraphQL: root + {TREE_LEVELS} levels of children "
        f"({NODE_FIELDS.replace(' ', ', ')}) through the real app"
    )
    for size in TREE_SIZES:
        print(
            f"    tree of {size:>4} messages: {counts[size]:>2} statements, "
            f"{median_ms(samples[size]):8.1f} ms (median of {REQUESTS})"
        )
    same = "the same" if counts[small] == counts[large] else "DIFFERENT (a fan-out leaks)"
    print(f"    statements: {same}")
    print(
        f"    time ratio {large} / {small} messages: "
        f"{paired_ratio(samples[large], samples[small]):.1f} "
        f"(for {large // small}x the messages; what grows is Python work per node)"
    )


async def main(kind: str) -> None:
    header("ChatTree tree benchmark", kind)
    async with scratch_database(kind) as url:
        db = create_database(Settings(db_url=url, signature=SIGNATURE))
        try:
            await upgrade(db)
            async with db.transaction() as session:
                user_id = await add_user(session, "treebench")
            await bench_append(db, user_id)
            await bench_branch(db, user_id)
        finally:
            await db.dispose()
        await bench_graphql(url)


if __name__ == "__main__":
    asyncio.run(main(parse_args(__doc__ or "").db))

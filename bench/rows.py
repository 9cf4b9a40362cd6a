"""Deep conversations written straight into the tables: building them through the API
would take longer than the whole suite. Rows carry explicit ids, so a branch of 10,000
messages is a few multi-row inserts; the id sequences are moved past them afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, text, update

from chattree.db.engine import Database
from chattree.db.models import Conversation, Message, Role, Status
from chattree.db.types import utcnow

# The measurements: 200-character user and 800-character assistant messages.
USER_TEXT = ("How does the tree keep every branch? " * 6)[:200]
ASSISTANT_TEXT = ("Each message stores its parent, so a branch is a path up. " * 14)[:800]
SYSTEM_TEXT = "You are a helpful assistant."
BATCH = 1000


def role_at(depth: int) -> Role:
    if depth == 0:
        return Role.SYSTEM
    return Role.USER if depth % 2 else Role.ASSISTANT


def content_at(depth: int) -> str:
    role = role_at(depth)
    if role is Role.SYSTEM:
        return SYSTEM_TEXT
    return USER_TEXT if role is Role.USER else ASSISTANT_TEXT


@dataclass(frozen=True)
class Node:
    id: int
    parent_id: int | None
    depth: int


class Ids:
    """Hands out ids above the table's largest, in insertion (= "newest") order."""

    def __init__(self, start: int) -> None:
        self.next = start

    def take(self) -> int:
        self.next += 1
        return self.next


async def new_conversation(db: Database, user_id: int, model: str) -> tuple[int, Ids]:
    now = utcnow()
    async with db.transaction() as session:
        conversation_id = await session.scalar(
            insert(Conversation)
            .values(user_id=user_id, title="bench", model=model, created_at=now, updated_at=now)
            .returning(Conversation.id)
        )
        largest = await session.scalar(select(func.max(Message.id)))
    assert conversation_id is not None
    return conversation_id, Ids(largest or 0)


def chain(ids: Ids, parent: Node | None, length: int) -> Iterator[Node]:
    """`length` messages, each under the one before, below `parent` (None: from the root)."""
    for _ in range(length):
        node = Node(ids.take(), parent.id if parent else None, parent.depth + 1 if parent else 0)
        yield node
        parent = node


async def store(db: Database, conversation_id: int, model: str, nodes: list[Node]) -> None:
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "id": node.id,
            "conversation_id": conversation_id,
            "parent_id": node.parent_id,
            "role": role_at(node.depth),
            "content": content_at(node.depth),
            "status": Status.COMPLETE,
            "model": model if role_at(node.depth) is Role.ASSISTANT else None,
            "depth": node.depth,
            "created_at": now,
        }
        for node in nodes
    ]
    async with db.transaction() as session:
        for start in range(0, len(rows), BATCH):
            await session.execute(insert(Message), rows[start : start + BATCH])
        if not db.is_sqlite:  # SQLite's AUTOINCREMENT follows explicit ids by itself
            await session.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('messages', 'id'), max(id)) FROM messages"
                )
            )
        last = max(nodes, key=lambda node: node.id)
        await session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(current_message_id=last.id)
        )


async def add_chain(db: Database, user_id: int, model: str, messages: int) -> list[Node]:
    """A conversation that is one branch of `messages` messages: its nodes, root first."""
    conversation_id, ids = await new_conversation(db, user_id, model)
    nodes = list(chain(ids, None, messages))
    await store(db, conversation_id, model, nodes)
    return nodes


async def add_forked(
    db: Database, user_id: int, model: str, messages: int, every: int = 10
) -> tuple[int, list[Node]]:
    """A conversation of `messages` messages: a main branch of half of them, and every
    `every` levels a second branch of `every` messages leaving it (an edit, continued)."""
    conversation_id, ids = await new_conversation(db, user_id, model)
    main = list(chain(ids, None, messages - messages // 2))
    nodes = list(main)
    for fork in main[every::every]:
        length = min(every, messages - len(nodes))
        # A sibling of `fork`: under the same parent.
        nodes += chain(ids, Node(fork.parent_id or 0, None, fork.depth - 1), length)
    nodes += chain(ids, main[-1], messages - len(nodes))
    await store(db, conversation_id, model, nodes)
    return conversation_id, nodes


async def analyze(db: Database) -> None:
    """Gives PostgreSQL's planner statistics, as autovacuum would within a minute."""
    if not db.is_sqlite:
        async with db.engine.connect() as connection:
            await connection.execute(text("ANALYZE"))
            await connection.commit()


async def never_analyze(db: Database) -> None:
    """Keeps autovacuum from analysing the tables mid-run: their statistics stay missing."""
    if not db.is_sqlite:
        async with db.engine.connect() as connection:
            for table in ("users", "conversations", "messages"):
                await connection.execute(
                    text(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
                )
            await connection.commit()


def level_sizes(total: int, levels: int) -> list[int]:
    """How many messages each level below the root holds so that a tree of `levels`
    levels has `total` messages: full levels of the largest fan-out that leaves the
    last level some, and the last level the rest."""

    def upper(fanout: int) -> int:
        return sum(fanout**k for k in range(1, levels))

    fanout = 1
    while upper(fanout + 1) < total - 1:
        fanout += 1
    sizes = [fanout**k for k in range(1, levels)]
    sizes.append(total - 1 - sum(sizes))
    if sizes[-1] < 1:
        raise ValueError(f"{total} messages cannot fill {levels} levels")
    return sizes


async def add_levels(db: Database, user_id: int, model: str, total: int, levels: int) -> int:
    """A conversation whose `total` messages fill `levels` levels below the root."""
    conversation_id, ids = await new_conversation(db, user_id, model)
    parents = [Node(ids.take(), None, 0)]
    nodes = list(parents)
    for depth, size in enumerate(level_sizes(total, levels), start=1):
        level = [Node(ids.take(), parents[i % len(parents)].id, depth) for i in range(size)]
        nodes += level
        parents = level
    await store(db, conversation_id, model, nodes)
    return conversation_id

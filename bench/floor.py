"""The floor a read is held against: what the same answer costs with nothing of ours in
the way. Three parts, timed apart: the raw driver (aiosqlite or asyncpg, no SQLAlchemy)
running the same SQL, graphql-core executing the same selection over those rows
preloaded as plain objects (default resolvers, document parsed and validated once),
and orjson encoding the response."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import aiosqlite
import asyncpg  # type: ignore[import-untyped]
import orjson
from graphql import DocumentNode, GraphQLSchema, build_schema, execute_sync, parse, validate
from sqlalchemy import Select, literal, select
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import aliased

from bench import raw_url
from chattree.db.models import Message

FIELDS = "id parentId role content status depth"

SDL = """
enum Role { SYSTEM USER ASSISTANT }
enum MessageStatus { COMPLETE STREAMING FAILED CANCELLED INTERRUPTED }
type Message {
  id: ID!
  parentId: ID
  role: Role!
  content: String!
  status: MessageStatus!
  depth: Int!
  descendants: [Message!]!
}
type Conversation { branch: [Message!]! messages: [Message!]! root: Message! }
type Query { conversation(id: ID!): Conversation }
"""


ROOT = {
    "id": 0,
    "parent_id": None,
    "role": "SYSTEM",
    "content": "",
    "status": "COMPLETE",
    "depth": 0,
}


class Plain:
    """A message as graphql-core's default resolvers read it: plain attributes."""

    __slots__ = ("content", "depth", "descendants", "id", "parentId", "role", "status")

    def __init__(self, row: Any) -> None:
        self.id = row["id"]
        self.parentId = row["parent_id"]
        self.role = row["role"]
        self.content = row["content"]
        self.status = row["status"]
        self.depth = row["depth"]
        self.descendants: list[Plain] = []


@dataclass
class PlainConversation:
    branch: list[Plain]
    messages: list[Plain]
    root: Plain | None


@dataclass
class Query:
    conversation: PlainConversation


@dataclass(frozen=True)
class Parts:
    driver: float
    execute: float
    encode: float
    body: bytes

    @property
    def total(self) -> float:
        return self.driver + self.execute + self.encode


class Fetch(Protocol):
    async def __call__(self, sql: str) -> Sequence[Any]: ...


def sql_of(statement: Select[Any], dialect: Dialect) -> str:
    return str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def descendants_statement(message_id: int) -> Select[Any]:
    """Every descendant of a message, shallowest first: the shape of db/tree.py's."""
    down = (
        select(Message.id, literal(0).label("level"))
        .where(Message.id == message_id)
        .cte("down", recursive=True)
    )
    child = aliased(Message)
    down = down.union_all(
        select(child.id, (down.c.level + 1).label("level")).where(child.parent_id == down.c.id)
    )
    return (
        select(Message)
        .join(down, Message.id == down.c.id)
        .where(down.c.level > 0)
        .order_by(Message.depth, Message.id)
    )


@asynccontextmanager
async def raw_driver(url: str) -> AsyncIterator[Fetch]:
    """One connection of the bare driver, opened outside the timings."""
    if url.startswith("sqlite"):
        connection = await aiosqlite.connect(url.split(":///", 1)[1])
        connection.row_factory = aiosqlite.Row
        try:

            async def fetch_sqlite(sql: str) -> Sequence[Any]:
                async with connection.execute(sql) as cursor:
                    return list(await cursor.fetchall())

            yield fetch_sqlite
        finally:
            await connection.close()
        return
    pg = await asyncpg.connect(raw_url(url))
    try:

        async def fetch_postgres(sql: str) -> Sequence[Any]:
            rows: Sequence[Any] = await pg.fetch(sql)
            return rows

        yield fetch_postgres
    finally:
        await pg.close()


class Floor:
    """One selection over one statement's rows, ready to be timed again and again."""

    schema: GraphQLSchema = build_schema(SDL)

    def __init__(self, fetch: Fetch, sql: str, query: str, place: str) -> None:
        self.fetch, self.sql, self.place = fetch, sql, place
        self.document: DocumentNode = parse(query)
        errors = validate(self.schema, self.document)
        if errors:
            raise ValueError(f"the floor's query is invalid: {errors}")

    def arrange(self, rows: Sequence[Any]) -> Query:
        """The rows as plain objects where the selection reads them (not timed)."""
        plain = [Plain(row) for row in rows]
        conversation = PlainConversation(branch=[], messages=[], root=None)
        if self.place == "descendants":
            conversation.root = Plain(ROOT)
            conversation.root.descendants = plain
        else:
            setattr(conversation, self.place, plain)
        return Query(conversation)

    async def measure(self) -> Parts:
        start = time.perf_counter()
        rows = await self.fetch(self.sql)
        fetched = time.perf_counter()
        root = self.arrange(rows)
        begin = time.perf_counter()
        result = execute_sync(
            self.schema, self.document, root_value=root, variable_values={"id": "0"}
        )
        executed = time.perf_counter()
        body = orjson.dumps({"data": result.data})
        encoded = time.perf_counter()
        return Parts(fetched - start, executed - begin, encoded - executed, body)

"""What the read paths return for a message: a plain row of its columns.

Reads that serve GraphQL load rows, not ORM objects. A long branch is thousands of
messages, and an ORM object costs several times a row to build (instance state, the
identity map) while nothing here ever changes or lazy-loads it. ORM `Message` objects
have the same attributes, so code that reads messages takes either.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sqlalchemy import CTE, ColumnElement

from chattree.db.models import Message, Role, Status

MESSAGES = Message.__table__
NAMES = tuple(column.name for column in MESSAGES.c)


class MessageRecord(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def conversation_id(self) -> int: ...
    @property
    def parent_id(self) -> int | None: ...
    @property
    def role(self) -> Role: ...
    @property
    def content(self) -> str: ...
    @property
    def reasoning(self) -> str | None: ...
    @property
    def status(self) -> Status: ...
    @property
    def error(self) -> str | None: ...
    @property
    def model(self) -> str | None: ...
    @property
    def depth(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def context_message_count(self) -> int | None: ...
    @property
    def token_estimate(self) -> int: ...
    @property
    def prompt_tokens(self) -> int | None: ...
    @property
    def completion_tokens(self) -> int | None: ...
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def rating(self) -> int | None: ...
    @property
    def feedback(self) -> str | None: ...


class MessageRow(NamedTuple):
    """A message's columns, in the table's order. Rows of the database driver read each
    attribute by name through a key map (0.3 µs an attribute, 6 µs a message as the API
    reads it); a named tuple reads it by position."""

    id: int
    conversation_id: int
    parent_id: int | None
    role: Role
    content: str
    reasoning: str | None
    status: Status
    error: str | None
    model: str | None
    depth: int
    created_at: datetime
    seq: int
    heartbeat_at: datetime | None
    token_estimate: int
    context_message_count: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    rating: int | None
    feedback: str | None


if MessageRow._fields != NAMES:
    raise RuntimeError(f"MessageRow lists {MessageRow._fields}, the table has {NAMES}")


def record(row: Any) -> MessageRecord:
    """A row selected as `select(*MESSAGES.c)`, as a record."""
    return MessageRow._make(row)


def started(rows: Iterable[Any]) -> Iterator[tuple[int, MessageRecord]]:
    """Rows selected as `select(start, *columns_of(...))`: each start with its record."""
    make = MessageRow._make
    for row in rows:
        yield row[0], make(row[1:])


def columns_of(cte: CTE) -> list[ColumnElement[Any]]:
    """The message columns a CTE carries, to select records from it."""
    return [cte.c[name] for name in NAMES]

"""What the read paths return for a message: a plain row of its columns.

Reads that serve GraphQL load rows, not ORM objects. A long branch is thousands of
messages, and an ORM object costs several times a row to build (instance state, the
identity map) while nothing here ever changes or lazy-loads it. ORM `Message` objects
have the same attributes, so code that reads messages takes either.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol, cast

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


def record(row: Any) -> MessageRecord:
    return cast(MessageRecord, row)


def columns_of(cte: CTE) -> list[ColumnElement[Any]]:
    """The message columns a CTE carries, to select records from it."""
    return [cte.c[name] for name in NAMES]


def records(rows: Iterable[Any]) -> list[MessageRecord]:
    # Rows carry every attribute of the protocol, by column name.
    return cast(list[MessageRecord], list(rows))

"""What every log line says about where it comes from, and the two formats it is written in.

A request id is set per HTTP request and per websocket operation (`api.request_id`), and
a message id while a reply is generated; tasks started from there inherit both, since
asyncio copies the context into every new task. `ContextFilter` puts them on each record
as `request_id` and `message_id`, so formatters and tests can rely on the attributes.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import urlsplit

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
message_id: ContextVar[int | None] = ContextVar("message_id", default=None)

# An id a proxy or client sends is kept only when it is short and cannot break a log line.
ACCEPTED_REQUEST_ID = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

LogFormat = Literal["text", "json"]


def new_request_id() -> str:
    return secrets.token_hex(8)


def accepted_request_id(incoming: str | None) -> str:
    """The client's id when it is sane, else a fresh one."""
    if incoming is not None and ACCEPTED_REQUEST_ID.fullmatch(incoming):
        return incoming
    return new_request_id()


def one_line(text: str, limit: int = 300) -> str:
    """`text` with line breaks and other control characters escaped, cut at `limit`: what
    a client sent cannot forge or flood log lines."""
    escaped = "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
    return escaped if len(escaped) <= limit else escaped[:limit] + "..."


class ContextFilter(logging.Filter):
    """Stamps each record with the request and message it was written for.

    It also drops the query string from uvicorn's access lines: a GET request carries its
    GraphQL variables there, and those may hold a password."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.message_id = message_id.get()
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            record.args = tuple(
                urlsplit(arg).path if index == 2 and isinstance(arg, str) else arg
                for index, arg in enumerate(record.args)
            )
        return True


class TextFormatter(logging.Formatter):
    """`time LEVEL logger [request message]: text`, with a traceback below when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        tags = [
            f"request={value}" if name == "request_id" else f"message={value}"
            for name in ("request_id", "message_id")
            if (value := getattr(record, name, None)) is not None
        ]
        record.where = f" [{' '.join(tags)}]" if tags else ""
        return super().format(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log collectors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        if (message := getattr(record, "message_id", None)) is not None:
            entry["message_id"] = message
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(*, level: str, log_format: LogFormat) -> None:
    """Sends every logger's records, uvicorn's included, to standard error in one format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Under plain uvicorn its access lines go to handlers of its own, not to this one.
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(existing, ContextFilter) for existing in access.filters):
        access.addFilter(ContextFilter())
    # Alembic announces each of its plugins at INFO on every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)

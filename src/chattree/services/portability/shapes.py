"""What an importer makes of one entry of a file, whatever its format: a tree held as a
list whose parents precede their children, ready to be stored in one transaction."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from chattree.db.portability import NewMessage
from chattree.llm.text import replace_unstorable
from chattree.services.titles import MAX_TITLE

UNTITLED = "Imported conversation"
MAX_MODEL = 200  # the column's length


__all__ = ["BadEntry", "NewConversation", "NewMessage"]


class BadEntry(Exception):
    """An entry that cannot become a conversation; the message says why."""


@dataclass(slots=True)
class NewConversation:
    title: str
    model: str
    created_at: datetime
    updated_at: datetime
    messages: list[NewMessage] = field(default_factory=list)
    current: int | None = None  # index of the current message; None: the newest
    dropped: int = 0  # nodes of the source left out (tool calls, hidden or empty nodes)

    def add(self, message: NewMessage) -> int:
        self.messages.append(message)
        return len(self.messages) - 1


def clean(text: str) -> str:
    """Text any database column holds: NUL and lone surrogates become U+FFFD."""
    return replace_unstorable(text)


def title_of(raw: object) -> str:
    title = " ".join(clean(raw).split()) if isinstance(raw, str) else ""
    return title[:MAX_TITLE] or UNTITLED


def model_of(raw: object) -> str | None:
    return clean(raw)[:MAX_MODEL] if isinstance(raw, str) and raw else None


def from_unix(raw: object) -> datetime | None:
    """A Unix time in seconds; None for a missing or impossible one."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    try:
        return datetime.fromtimestamp(float(raw), UTC)
    except (OverflowError, OSError, ValueError):
        return None


def from_iso(raw: object) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        stamp = datetime.fromisoformat(raw)
    except ValueError:
        return None
    return stamp.astimezone(UTC) if stamp.tzinfo is not None else None

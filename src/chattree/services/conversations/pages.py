"""A user's conversations, pinned first then newest first, a page at a time, with opaque
cursors that hold the row's place in that order (pinned, updated_at, id)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import and_, false, or_, select, true

from chattree.db.engine import Database
from chattree.db.models import Conversation
from chattree.errors import InvalidInput
from chattree.ids import parse_row_id

MAX_PAGE = 100
MAX_CURSOR = 200  # characters; the cursors this server issues are under 100


@dataclass(frozen=True, slots=True)
class Page:
    conversations: list[Conversation]
    has_next: bool


async def page(
    db: Database, *, user_id: int, first: int, after: str | None, archived: bool = False
) -> Page:
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput(f"first must be 1 to {MAX_PAGE}", argument="first")
    query = select(Conversation).where(
        Conversation.user_id == user_id, Conversation.archived == archived
    )
    if after is not None:
        pinned, updated_at, last_id = decode_cursor(after)
        older = or_(
            Conversation.updated_at < updated_at,
            and_(Conversation.updated_at == updated_at, Conversation.id < last_id),
        )
        unpinned = Conversation.pinned == false()
        # After a pinned row: the older pinned ones, then every unpinned one.
        later = or_(unpinned, and_(Conversation.pinned == true(), older)) if pinned else None
        query = query.where(later if later is not None else and_(unpinned, older))
    # Backwards along ix_conversations_listing: no sort.
    query = query.order_by(
        Conversation.pinned.desc(), Conversation.updated_at.desc(), Conversation.id.desc()
    )
    async with db.reader() as session:
        rows = list((await session.scalars(query.limit(first + 1))).all())
    return Page(rows[:first], has_next=len(rows) > first)


def encode_cursor(conversation: Conversation) -> str:
    pinned = "p" if conversation.pinned else "u"
    raw = f"{pinned}|{conversation.updated_at.isoformat()}|{conversation.id}"
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[bool, datetime, int]:
    """What `encode_cursor` put in; BAD_USER_INPUT for anything else, found here rather
    than by the database, which cannot bind an out-of-range time or id."""
    decoded = parse_cursor(cursor) if len(cursor) <= MAX_CURSOR else None
    if decoded is None:
        raise InvalidInput("after is not a cursor this server issued", argument="after")
    return decoded


def parse_cursor(cursor: str) -> tuple[bool, datetime, int] | None:
    """(pinned, updated_at, id). Cursors issued before pinning existed hold only the
    last two, and come from a list where nothing was pinned."""
    try:
        raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        pinned = raw[:2] == "p|"
        if raw[:2] in ("p|", "u|"):
            raw = raw[2:]
        stamp, _, last_id = raw.partition("|")
        updated_at = datetime.fromisoformat(stamp)
        if updated_at.tzinfo is None:
            return None
        # As stored. An offset can move the instant before year 1 or after 9999, which
        # overflows here instead of when the value is bound.
        updated_at = updated_at.astimezone(UTC)
    except (ValueError, OverflowError, binascii.Error):
        return None
    number = parse_row_id(last_id)
    return None if number is None else (pinned, updated_at, number)

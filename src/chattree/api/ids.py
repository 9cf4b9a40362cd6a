"""GraphQL ids: the decimal row id as a string. Anything else names nothing."""

from __future__ import annotations

import strawberry

from chattree.errors import NotFound

MAX_ID = 2**63 - 1


def parse_id(value: strawberry.ID | str) -> int | None:
    """The row id, or None for a value that cannot be one (answered as not found)."""
    text = str(value).strip()
    # ASCII only: str.isdigit() also accepts "³" (which int() refuses) and "٣" (which
    # int() reads as 3), neither of which is an id this server issued.
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None


def require_id(value: strawberry.ID | str, *, what: str) -> int:
    """The row id, or NOT_FOUND: an id that cannot exist is answered like a missing one."""
    number = parse_id(value)
    if number is None:
        raise NotFound(f"no {what} with id {value}")
    return number

"""GraphQL ids: the decimal row id as a string. Anything else names nothing."""

from __future__ import annotations

import strawberry

from chattree.errors import NotFound
from chattree.ids import parse_row_id


def parse_id(value: strawberry.ID | str) -> int | None:
    """The row id, or None for a value that cannot be one (answered as not found)."""
    return parse_row_id(str(value).strip())


def require_id(value: strawberry.ID | str, *, what: str) -> int:
    """The row id, or NOT_FOUND: an id that cannot exist is answered like a missing one."""
    number = parse_id(value)
    if number is None:
        raise NotFound(f"no {what} with id {value}")
    return number

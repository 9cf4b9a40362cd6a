"""Event cursors: opaque to clients, the event's id inside."""

from __future__ import annotations

import base64
import binascii
from typing import Final

from chattree.errors import InvalidInput
from chattree.ids import parse_row_id

PREFIX: Final = "event:"
MAX_CURSOR: Final = 100


def encode_event_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(f"{PREFIX}{event_id}".encode()).decode()


def decode_event_cursor(cursor: str) -> int:
    """The event id, or BAD_USER_INPUT for a string this server did not issue."""
    event_id = None
    if len(cursor) <= MAX_CURSOR:
        try:
            raw = base64.urlsafe_b64decode(cursor.encode()).decode()
        except (ValueError, binascii.Error):
            raw = ""
        if raw.startswith(PREFIX):
            event_id = parse_row_id(raw[len(PREFIX) :])
    if event_id is None:
        raise InvalidInput("after is not an event cursor this server issued", argument="after")
    return event_id

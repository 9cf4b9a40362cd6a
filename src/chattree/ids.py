"""Row ids as clients see them: the decimal id as a string. Anything else names nothing."""

from __future__ import annotations

MAX_ID = 2**63 - 1  # ids are BIGINT on PostgreSQL


def parse_row_id(text: str) -> int | None:
    """The row id `text` spells exactly, or None when it cannot be one."""
    # ASCII only: str.isdigit() also accepts "³" (which int() refuses) and "٣" (which
    # int() reads as 3), and int() takes "+1", " 1" and "1_0", none of which this
    # server issued.
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    number = int(text)
    return number if 0 < number <= MAX_ID else None

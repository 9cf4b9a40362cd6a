"""Checks every text a client sends before it is stored."""

from __future__ import annotations

from chattree.errors import InvalidInput


def storable(text: str) -> bool:
    """False for what neither UTF-8 nor a PostgreSQL text column can hold: NUL and
    unpaired surrogates (JSON lets a client send both)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(
    text: str, *, argument: str, max_length: int | None = None, allow_empty: bool = True
) -> None:
    """BAD_USER_INPUT naming `argument` for text that is empty, too long or unstorable."""
    if not allow_empty and not text.strip():
        raise InvalidInput(f"{argument} must not be empty", argument=argument)
    if max_length is not None and len(text) > max_length:
        raise InvalidInput(f"{argument} is longer than {max_length} characters", argument=argument)
    if not storable(text):
        raise InvalidInput(
            f"{argument} contains a NUL character or an unpaired surrogate", argument=argument
        )

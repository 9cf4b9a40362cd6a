"""The domain errors every layer raises; `api.errors` maps them to `extensions.code`.

Third-party exceptions (aiohttp, SQLAlchemy, PyJWT) are translated into these at the
boundary where they occur, so nothing above that boundary knows those libraries.
"""

from __future__ import annotations


class ChatTreeError(Exception):
    """Base of every error a client may see; `code` is the contract's extensions.code."""

    code = "INTERNAL"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(ChatTreeError):
    """The id does not exist or belongs to someone else (the two are never told apart)."""

    code = "NOT_FOUND"


class InvalidInput(ChatTreeError):
    """A value failed validation; the message names the argument."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, argument: str | None = None) -> None:
        super().__init__(message)
        self.argument = argument


class Conflict(ChatTreeError):
    code = "CONFLICT"


class Unauthenticated(ChatTreeError):
    code = "UNAUTHENTICATED"


class RateLimited(ChatTreeError):
    code = "RATE_LIMITED"

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(ChatTreeError):
    """The model server could not be reached or answered something unusable."""

    code = "UPSTREAM_ERROR"


class StorageUnavailable(ChatTreeError):
    """The database cannot serve the request now: unreachable, restarting, read-only or
    full. The contract has no code of its own for this, so it is INTERNAL, but with a
    message that says what happened (nothing about the request was wrong)."""

    code = "INTERNAL"

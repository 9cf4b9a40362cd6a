"""Database failures that are nobody's request's fault: the database cannot be reached,
is restarting, is read-only, or is full. `Database` translates them at its session
boundary into `StorageUnavailable`, so a client reads what happened instead of a masked
internal error, and the log gets one line instead of a traceback."""

from __future__ import annotations

from typing import Final

from sqlalchemy import exc as sa

from chattree.errors import StorageUnavailable

UNREACHABLE: Final = "the database cannot be reached right now; nothing was changed; try again"
READ_ONLY: Final = "the database is read-only right now; nothing was stored"
FULL: Final = "the database is out of space; nothing was stored"

# SQLite result codes (sqlite3's sqlite_errorname) and PostgreSQL SQLSTATEs.
SQLITE: Final = {
    "SQLITE_READONLY": READ_ONLY,
    "SQLITE_FULL": FULL,
    "SQLITE_BUSY": UNREACHABLE,
    "SQLITE_LOCKED": UNREACHABLE,
    "SQLITE_CANTOPEN": UNREACHABLE,
    "SQLITE_IOERR": UNREACHABLE,
}
POSTGRES: Final = {
    "25006": READ_ONLY,  # read_only_sql_transaction (a standby, or default_transaction_read_only)
    "53100": FULL,  # disk_full
    "53": UNREACHABLE,  # insufficient resources: out of memory, too many connections
    "08": UNREACHABLE,  # connection exceptions
    "57P": UNREACHABLE,  # admin shutdown, crash shutdown, cannot connect now
}


def unavailable(error: BaseException) -> StorageUnavailable | None:
    """The client-facing error for `error`, or None when it is not an outage (a
    constraint the caller handles, a bug): those travel on unchanged."""
    original = error
    if isinstance(error, sa.DBAPIError) and error.orig is not None:
        original = error.orig
    name = getattr(original, "sqlite_errorname", None)
    if isinstance(name, str):
        # Extended codes (SQLITE_READONLY_DBMOVED, SQLITE_IOERR_WRITE...) share a prefix.
        for prefix, message in SQLITE.items():
            if name.startswith(prefix):
                return StorageUnavailable(message)
    state = getattr(original, "sqlstate", None) or getattr(original.__cause__, "sqlstate", None)
    if isinstance(state, str):
        for prefix, message in POSTGRES.items():
            if state.startswith(prefix):
                return StorageUnavailable(message)
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return StorageUnavailable(UNREACHABLE)
    if isinstance(error, sa.InterfaceError | sa.TimeoutError | OSError):
        # Refused or timed-out connections, and connections lost mid-statement.
        return StorageUnavailable(UNREACHABLE)
    return None

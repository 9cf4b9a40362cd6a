"""The engine and the two kinds of session the services use: reads and transactions."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from chattree.db.failures import unavailable
from chattree.settings import Settings

log = logging.getLogger(__name__)

# asyncpg prepares every statement and keeps it for the life of the connection. After
# five runs PostgreSQL may switch a prepared statement to a generic plan, costed for the
# table as it was then: a tree walk planned while `messages` held a few rows goes on
# scanning the whole table at every step once it holds many (O(rows x depth); 480 ms
# instead of 30 ms for a 3,000-deep path), and without ANALYZE nothing ever replans it.
# Custom plans cost a fraction of a millisecond to make and always see the table's size.
POSTGRES_SESSION = {"plan_cache_mode": "force_custom_plan"}

# A pooled PostgreSQL connection idle for longer than this is pinged before it is used
# again: it may have been dropped meanwhile (a restarted server, a firewall's idle
# timeout), and a fresh one costs less than a request that fails. One in steady use is
# not pinged: asyncpg's ping is three round trips (BEGIN, a statement, ROLLBACK), once
# per loader batch and unit of work. Should one still have died, its statement fails,
# SQLAlchemy replaces every connection of the pool made before then, and that one
# request answers UNREACHABLE, as any request during an outage does.
PING_AFTER_IDLE_SECONDS = 10.0
# Connections are replaced after this long whatever their use, so none outlives a
# server-side limit on connection age for long.
RECYCLE_SECONDS = 1800


# Through a transaction pooler, consecutive statements of one client connection may run
# on different server connections, so a statement prepared on one is unknown to the
# next, and a named one is never closed where it was made. So: no statement caches
# (asyncpg's, and SQLAlchemy's above it), and the statements SQLAlchemy still prepares
# are unnamed, which asyncpg then parses again in the same message sequence as each
# execution: nothing outlives that sequence on any server connection.
def pooler_connect_args() -> dict[str, Any]:
    return {
        "statement_cache_size": 0,
        "prepared_statement_cache_size": 0,
        "prepared_statement_name_func": lambda: "",
    }


class Database:
    """Owns the engine; `transaction()` for units of work, `reader()` for short reads."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.is_sqlite = engine.dialect.name == "sqlite"
        # On SQLite a write transaction takes the write lock when it begins (BEGIN
        # IMMEDIATE): a deferred one that reads first and then writes fails at once with
        # SQLITE_BUSY when another writer got in between, instead of waiting its turn.
        writer = engine.execution_options(sqlite_immediate=True) if self.is_sqlite else engine
        self._writes = async_sessionmaker(writer, expire_on_commit=False)
        self._reads = async_sessionmaker(engine, expire_on_commit=False)
        # Called with a transaction's `session.info` once it has committed (and only
        # then): what the work recorded for others to hear, e.g. events to publish.
        self.after_commit: list[Callable[[dict[Any, Any]], None]] = []

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One unit of work: committed when the block ends, rolled back if it raises."""
        with translated_outages():
            async with self._writes.begin() as session:
                yield session
        for hook in self.after_commit:
            hook(session.info)

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncSession]:
        with translated_outages():
            async with self._reads() as session:
                yield session

    async def dispose(self) -> None:
        """Closes the pool's connections; only once nothing uses the engine any more. A
        connection checked out while this runs (it awaits each close) is returned to the
        discarded pool afterwards, where nothing closes it."""
        await self.engine.dispose()


@contextmanager
def translated_outages() -> Iterator[None]:
    """Raises StorageUnavailable for a database that cannot serve (see db.failures)."""
    try:
        yield
    except Exception as exc:
        failure = unavailable(exc)
        if failure is None:
            raise
        cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
        # One line: SQLAlchemy's own text would add the statement and its parameters.
        log.warning("database unavailable: %s (%s: %s)", failure, type(cause).__name__, cause)
        raise failure from exc


def create_database(settings: Settings, *, direct: bool = False, **engine_options: Any) -> Database:
    """The database of DB_URL; with direct=True, of DB_DIRECT_URL when it is set."""
    sqlite_file = settings.sqlite_path()
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    url = settings.db_url
    if direct and settings.db_direct_url is not None:
        url = settings.db_direct_url
    elif settings.db_direct_url is not None:
        # Behind a pooler every statement is prepared unnamed, and so planned for its
        # values each time; the pooler would refuse the session setting anyway.
        engine_options.setdefault("connect_args", pooler_connect_args())
    if settings.is_postgres:
        engine_options.setdefault("pool_recycle", RECYCLE_SECONDS)
    if settings.is_postgres and (direct or settings.db_direct_url is None):
        connect_args = engine_options.setdefault("connect_args", {})
        connect_args.setdefault("server_settings", {}).update(POSTGRES_SESSION)
    # hide_parameters: a failed statement's error (and so the log) leaves out its values,
    # which may be message text, usernames or password hashes.
    engine = create_async_engine(url, hide_parameters=True, **engine_options)
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine)
    else:
        ping_when_idle(engine, after=PING_AFTER_IDLE_SECONDS)
    return Database(engine)


def ping_when_idle(engine: AsyncEngine, *, after: float) -> None:
    """Pings a connection at checkout when it was idle in the pool longer than `after`
    seconds; one that does not answer is replaced (the pool retries the checkout)."""
    pool = engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.pop("idle_since", None)
        if idle_since is None or time.monotonic() - idle_since <= after:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError(f"an idle connection did not answer: {exc}") from exc


def configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

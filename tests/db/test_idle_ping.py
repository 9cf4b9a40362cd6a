"""PostgreSQL connections are pinged before use only after idling in the pool: one
dropped while idle is replaced unseen, and one that dies while in steady use fails one
request, after which the pool holds only new connections."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text

from chattree.db import engine, failures
from chattree.db.engine import Database, create_database
from chattree.errors import StorageUnavailable
from chattree.settings import Settings
from tests.conftest import POSTGRES, postgres_database

WITHIN = 30.0  # seconds: a bound against hanging, never a measure


@pytest.fixture
async def url() -> AsyncIterator[str]:
    async with postgres_database() as url:
        yield url


async def backend(db: Database) -> int:
    """The server process behind the connection the pool hands out next."""
    async with db.reader() as session:
        pid = await session.scalar(text("SELECT pg_backend_pid()"))
    assert isinstance(pid, int)
    return pid


async def terminate(pid: int) -> None:
    """Ends a server process, as a restart or an idle timeout would, and waits until
    it is gone."""
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute("SELECT pg_terminate_backend($1)", pid)
        async with asyncio.timeout(WITHIN):
            query = "SELECT count(*) FROM pg_stat_activity WHERE pid = $1"
            while await connection.fetchval(query, pid):  # noqa: ASYNC110 (the server's state)
                await asyncio.sleep(0.05)
    finally:
        await connection.close()


async def test_a_connection_dropped_while_idle_is_replaced_unseen(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 0.0)  # every reuse counts as idle
    db = create_database(Settings(db_url=url))
    try:
        first = await backend(db)
        await terminate(first)
        assert await backend(db) != first
    finally:
        await db.dispose()


async def test_a_connection_in_steady_use_is_not_pinged(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "PING_AFTER_IDLE_SECONDS", 3600.0)
    db = create_database(Settings(db_url=url))
    try:
        first = await backend(db)
        assert await backend(db) == first  # reused, no replacement
        await terminate(first)
        # Nothing checked it on the way out of the pool: the statement finds it dead.
        with pytest.raises(StorageUnavailable) as failed:
            await backend(db)
        assert failed.value.message == failures.UNREACHABLE
        # And the pool replaced it: the next request is served.
        assert await backend(db) != first
    finally:
        await db.dispose()

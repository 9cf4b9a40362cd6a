"""Applies Alembic migrations: at start-up, and from `chattree migrate`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from chattree.db.engine import Database

ALEMBIC_INI = Path(__file__).resolve().parents[3] / "alembic.ini"
# Any constant shared by every replica; two replicas starting together migrate in turn.
ADVISORY_LOCK_KEY = 0x43484154545245


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config(str(ALEMBIC_INI))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@asynccontextmanager
async def migration_lock(connection: AsyncConnection) -> AsyncIterator[None]:
    """Holds PostgreSQL's advisory lock for the block (SQLite serializes writers itself)."""
    if connection.dialect.name != "postgresql":
        yield
        return
    await connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
    await connection.commit()
    try:
        yield
    finally:
        await connection.rollback()
        await connection.execute(
            text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        await connection.commit()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Brings the schema to `revision`; safe to run from several processes at once."""
    async with db.engine.connect() as connection, migration_lock(connection):
        await connection.run_sync(
            lambda sync: command.upgrade(alembic_config(sync), revision)
        )
        await connection.commit()

"""Applies Alembic migrations: at start-up, and from `chattree migrate`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from chattree.db.engine import Database, create_database
from chattree.settings import Settings

# Any constant shared by every replica; two replicas starting together migrate in turn.
ADVISORY_LOCK_KEY = 0x43484154545245


def script_location() -> Path:
    """The folder holding env.py and versions/.

    An installed wheel carries it as chattree/migrations (pyproject.toml maps the
    checkout's top-level alembic/ folder there); an editable install imports the package
    from src/ and reads the checkout's alembic/ folder itself."""
    packaged = resources.files("chattree").joinpath("migrations")
    checkout = Path(__file__).resolve().parents[3] / "alembic"
    for candidate in (packaged, checkout):
        if isinstance(candidate, Path) and (candidate / "env.py").is_file():
            return candidate
    raise RuntimeError(f"no Alembic migrations in {packaged} or {checkout}")


def alembic_config(connection: Connection | None = None) -> Config:
    """The settings of alembic.ini that migrating needs, built here so that an installed
    package, which has no alembic.ini, migrates the same way as a checkout."""
    config = Config()
    # ConfigParser interpolates "%" in values.
    config.set_main_option("script_location", str(script_location()).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
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


async def migrate(settings: Settings, db: Database | None = None) -> None:
    """Applies pending migrations, over `db` or a connection of their own. Behind a
    transaction pooler they take DB_DIRECT_URL: the advisory lock belongs to one server
    session, and a pooler hands each transaction to any session."""
    if db is not None and settings.db_direct_url is None:
        await upgrade(db)
        return
    own = create_database(settings, direct=True)
    try:
        await upgrade(own)
    finally:
        await own.dispose()


async def upgrade(db: Database, revision: str = "head") -> None:
    """Brings the schema to `revision`; safe to run from several processes at once."""
    async with db.engine.connect() as connection, migration_lock(connection):
        await connection.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
        await connection.commit()


async def revisions(db: Database) -> tuple[set[str], set[str]]:
    """(the revisions the database is at, the heads of the migrations shipped here)."""
    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    async with db.engine.connect() as connection:
        current = await connection.run_sync(
            lambda sync: set(MigrationContext.configure(sync).get_current_heads())
        )
    return current, heads

"""Alembic environment: the URL comes from the server's settings, metadata from its models.

`chattree migrate` and the server's start-up hand in an open connection (already holding
the migration lock); the `alembic` command line opens its own.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from chattree.db.models import Base
from chattree.db.search import excluded_from_models
from chattree.settings import Settings

target_metadata = Base.metadata


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    # The full-text objects of migration 0006 differ by database and are not models.
    return not excluded_from_models(name, type_)


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_standalone() -> None:
    from chattree.db.engine import create_database
    from chattree.db.migrate import migration_lock

    db = create_database(Settings.from_env())
    try:
        async with db.engine.connect() as connection, migration_lock(connection):
            await connection.run_sync(run_with)
            await connection.commit()
    finally:
        await db.dispose()


given = context.config.attributes.get("connection")
if context.is_offline_mode():
    context.configure(url=Settings.from_env().db_url, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
elif given is not None:
    run_with(given)
else:
    asyncio.run(run_standalone())

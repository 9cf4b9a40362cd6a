"""Secrets generated once and stored, so restarts and every process share them."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from chattree.db.engine import Database
from chattree.db.models import ServerSecret


async def shared_secret(db: Database, name: str) -> str:
    """The stored value of `name`, created at random by whichever process asks first."""
    insert = sqlite_insert if db.is_sqlite else pg_insert
    async with db.transaction() as session:
        await session.execute(
            insert(ServerSecret)
            .values(name=name, value=secrets.token_urlsafe(48))
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = await session.scalar(select(ServerSecret.value).where(ServerSecret.name == name))
    assert value is not None
    return value

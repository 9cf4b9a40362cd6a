"""The engine of `create_database`: what its errors may say."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from chattree.db.engine import create_database
from chattree.settings import Settings


async def test_a_failed_statement_does_not_repeat_its_values(db_url: str) -> None:
    db = create_database(Settings(db_url=db_url))
    try:
        with pytest.raises(DBAPIError) as failed:
            async with db.transaction() as session:
                await session.execute(
                    text("INSERT INTO no_such_table (secret) VALUES (:v)"), {"v": "hunter2-value"}
                )
    finally:
        await db.dispose()
    assert "no_such_table" in str(failed.value)
    assert "hunter2-value" not in str(failed.value)

"""Alembic owns the schema: the migrations build exactly what the models describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from chattree.db.engine import create_database
from chattree.db.migrate import upgrade
from chattree.db.models import Base
from chattree.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).parent / "alembic"


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_the_models(db_url: str) -> None:
    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db)
        async with db.engine.connect() as connection:
            assert await connection.run_sync(differences) == []
    finally:
        await db.dispose()


async def test_upgrading_twice_changes_nothing(db_url: str) -> None:
    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db)
        await upgrade(db)
        async with db.engine.connect() as connection:
            tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        assert {"users", "conversations", "messages", "server_secrets"} <= set(tables)
    finally:
        await db.dispose()


async def test_deleting_a_user_cascades_to_conversations_and_messages(db_url: str) -> None:
    from sqlalchemy import delete, func, select

    from chattree.db.models import Conversation, Message, Role, Status, User

    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db)
        async with db.transaction() as session:
            user = User(username="carol", password="plain$x", token_version=0)
            session.add(user)
            await session.flush()
            conversation = Conversation(user_id=user.id, title="t", model="m")
            session.add(conversation)
            await session.flush()
            root = Message(
                conversation_id=conversation.id, role=Role.SYSTEM, status=Status.COMPLETE, depth=0
            )
            session.add(root)
            await session.flush()
            session.add(
                Message(
                    conversation_id=conversation.id,
                    parent_id=root.id,
                    role=Role.USER,
                    status=Status.COMPLETE,
                    depth=1,
                )
            )
        async with db.transaction() as session:
            await session.execute(delete(User).where(User.id == user.id))
        async with db.reader() as session:
            assert await session.scalar(select(func.count()).select_from(Conversation)) == 0
            assert await session.scalar(select(func.count()).select_from(Message)) == 0
    finally:
        await db.dispose()


def test_the_alembic_command_line_of_the_checkout_migrates_to_the_models(db_url: str) -> None:
    """`alembic upgrade` and `alembic check` (how new revisions get written and checked)
    keep working from the checkout, with its alembic.ini and top-level alembic/ folder."""
    env = {**os.environ, "DB_URL": db_url}
    for command in (["upgrade", "head"], ["check"]):
        result = subprocess.run(
            [str(ALEMBIC), *command],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stdout + result.stderr
    assert "No new upgrade operations detected" in result.stdout + result.stderr

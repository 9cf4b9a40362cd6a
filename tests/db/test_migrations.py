"""Alembic owns the schema: the migrations build exactly what the models describe."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic import command as alembic_command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from chattree.db.engine import Database, create_database
from chattree.db.migrate import alembic_config, upgrade
from chattree.db.models import Base
from chattree.db.search import excluded_from_models
from chattree.settings import Settings

# Each test builds the schema itself, from nothing or from an older revision.
pytestmark = pytest.mark.empty_database

ROOT = Path(__file__).resolve().parents[2]
ALEMBIC = Path(sys.executable).parent / "alembic"


def differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "include_name": lambda name, type_, _: not excluded_from_models(name, type_),
        },
    )
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


async def test_upgrading_a_database_with_messages_estimates_their_tokens(db_url: str) -> None:
    from sqlalchemy import select

    from chattree.db.models import Message

    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db, "0001")
        async with db.transaction() as session:
            for statement in (
                "INSERT INTO users (username, password, token_version, created_at) "
                "VALUES ('dora', 'plain$x', 0, CURRENT_TIMESTAMP)",
                "INSERT INTO conversations (user_id, title, title_pending, model, created_at, "
                "updated_at) VALUES (1, 't', false, 'm', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
                "INSERT INTO messages (conversation_id, parent_id, role, content, status, depth, "
                "created_at, seq) VALUES (1, NULL, 'SYSTEM', 'abcdefgh', 'COMPLETE', 0, "
                "CURRENT_TIMESTAMP, 0), (1, 1, 'USER', 'abcdefghi', 'COMPLETE', 1, "
                "CURRENT_TIMESTAMP, 0)",
            ):
                await session.execute(text(statement))
        await upgrade(db)
        async with db.reader() as session:
            found = (await session.execute(select(Message.id, Message.token_estimate))).all()
        assert sorted(found) == [(1, 2 + 4), (2, 3 + 4)]
    finally:
        await db.dispose()


async def test_upgrading_indexes_the_messages_and_titles_already_there(db_url: str) -> None:
    from chattree.services.search import Search

    db = create_database(Settings(db_url=db_url))
    try:
        await upgrade(db, "0004")
        async with db.transaction() as session:
            for statement in (
                "INSERT INTO users (username, password, token_version, created_at) "
                "VALUES ('dora', 'plain$x', 0, CURRENT_TIMESTAMP)",
                "INSERT INTO conversations (user_id, title, title_pending, model, created_at, "
                "updated_at) VALUES (1, 'Garden notes', false, 'm', CURRENT_TIMESTAMP, "
                "CURRENT_TIMESTAMP)",
                "INSERT INTO messages (conversation_id, parent_id, role, content, status, depth, "
                "created_at, seq) VALUES (1, NULL, 'SYSTEM', 'Be brief.', 'COMPLETE', 0, "
                "CURRENT_TIMESTAMP, 0), (1, 1, 'USER', 'Planting tomatoes in crêpe weather', "
                "'COMPLETE', 1, CURRENT_TIMESTAMP, 0)",
            ):
                await session.execute(text(statement))
        await upgrade(db)
        search = Search(db=db)

        async def snippets(query: str) -> list[str]:
            page = await search.page(
                user_id=1, text=query, first=10, after=None, conversation_id=None
            )
            return [found.snippet for found in page.hits]

        assert await snippets("planted crepe") == [
            "<mark>Planting</mark> tomatoes in <mark>crêpe</mark> weather"
        ]
        assert await snippets("gardens") == ["<mark>Garden</mark> notes"]
        # Down and up again: the indexes are dropped and built anew.
        await downgrade(db, "0004")
        await upgrade(db)
        assert await snippets("tomato") == ["Planting <mark>tomatoes</mark> in crêpe weather"]
    finally:
        await db.dispose()


async def downgrade(db: Database, revision: str) -> None:
    async with db.engine.connect() as connection:
        await connection.run_sync(
            lambda sync: alembic_command.downgrade(alembic_config(sync), revision)
        )
        await connection.commit()

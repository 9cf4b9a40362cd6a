"""Fixtures: a database per test (SQLite file, and PostgreSQL when reachable), the fake
model server, and the real app served on loopback."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chattree.settings import Settings
from tests.fake_model import FakeModelServer
from tests.harness import Api, running_server

POSTGRES = os.environ.get("TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


async def postgres_reachable() -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES, timeout=3)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await connection.close()
    return True


async def create_postgres_database() -> str:
    if not await postgres_reachable():
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES} and CI=true")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}")
    name = f"chattree_test_{secrets.token_hex(6)}"
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return name


async def drop_postgres_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def async_url(name: str) -> str:
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}"


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """The URL of a fresh PostgreSQL database, dropped when the block ends."""
    name = await create_postgres_database()
    try:
        yield async_url(name)
    finally:
        await drop_postgres_database(name)


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A fresh, empty database for one test."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'chattree.db'}"
        return
    async with postgres_database() as url:
        yield url


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def server_env(db_url: str, fake_model: FakeModelServer) -> dict[str, str]:
    """The environment the server is started with; tests may change it first."""
    return {
        "DB_URL": db_url,
        "SIGNATURE": "a-test-secret-that-is-long-enough-for-hs256",
        "MODEL_BASE_URL": fake_model.base_url,
        "USE_HASH": "true",
        "FLUSH_INTERVAL": "0.2",
        "HEARTBEAT_INTERVAL": "0.5",
        "STALE_AFTER": "3",
        "MODEL_IDLE_TIMEOUT": "2",
        "MODEL_FIRST_TOKEN_TIMEOUT": "5",
        "SHUTDOWN_GRACE": "0",
    }


@pytest.fixture
async def api(server_env: dict[str, str]) -> AsyncIterator[Api]:
    async with running_server(Settings.from_env(server_env)) as api:
        yield api


@pytest.fixture
async def alice(api: Api) -> str:
    return await api.register("alice")


@pytest.fixture
async def bob(api: Api) -> str:
    return await api.register("bob")


def pytest_collection_modifyitems(items: list[Any]) -> None:
    # Slow PostgreSQL cases run after the SQLite ones, so the quick failures show first.
    items.sort(key=lambda item: "[postgres" in item.nodeid)

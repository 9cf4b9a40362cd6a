"""Fixtures: a database per test (SQLite file, and PostgreSQL when reachable), the fake
model server, and the real app served on loopback.

Each test's database is a copy of one migrated once per test process (a file copy on
SQLite, `CREATE DATABASE ... TEMPLATE` on PostgreSQL): running the migrations for every
test cost more than most tests. A test marked `empty_database` gets one with no schema."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chattree.db.engine import create_database
from chattree.db.migrate import upgrade
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


async def create_postgres_database(*, template: str | None = None) -> str:
    if not await postgres_reachable():
        if IN_CI:
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES} and CI=true")
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}")
    name = f"chattree_test_{secrets.token_hex(6)}"
    copied = f' TEMPLATE "{template}"' if template is not None else ""
    connection = await asyncpg.connect(POSTGRES)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"{copied}')
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


class Templates:
    """Databases at the newest schema, made on first use, once per test process."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.sqlite: Path | None = None
        self.postgres: str | None = None

    async def sqlite_copy(self, target: Path) -> None:
        if self.sqlite is None:
            template = self.folder / "template.db"
            await migrate(f"sqlite+aiosqlite:///{template}")
            self.sqlite = template
        shutil.copyfile(self.sqlite, target)

    async def postgres_copy(self) -> str:
        if self.postgres is None:
            template = await create_postgres_database()
            await migrate(async_url(template))
            self.postgres = template
        return await create_postgres_database(template=self.postgres)


async def migrate(url: str) -> None:
    db = create_database(Settings(db_url=url))
    try:
        await upgrade(db)
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Templates]:
    made = Templates(tmp_path_factory.mktemp("templates"))
    yield made
    if made.postgres is not None:
        asyncio.run(drop_postgres_database(made.postgres))


@pytest.fixture(params=["sqlite", "postgres"])
async def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> AsyncIterator[str]:
    """A fresh database for one test: at the newest schema, or with none at all for a
    test marked `empty_database`."""
    empty = request.node.get_closest_marker("empty_database") is not None
    if request.param == "sqlite":
        path = tmp_path / "chattree.db"
        if not empty:
            await templates.sqlite_copy(path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    if empty:
        async with postgres_database() as url:
            yield url
        return
    name = await templates.postgres_copy()
    try:
        yield async_url(name)
    finally:
        await drop_postgres_database(name)


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
        # Far beyond any pause a loaded machine causes; tests of the timeouts set theirs.
        "MODEL_IDLE_TIMEOUT": "60",
        "MODEL_FIRST_TOKEN_TIMEOUT": "60",
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

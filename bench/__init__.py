"""ChatTree's benchmark suite: `python -m bench all` (see docs/performance.md).

Every figure is a ratio against a baseline measured in the same run, on databases the
suite creates for itself and removes afterwards. This module holds the throwaway
databases; the other modules hold one benchmark or one family each.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

# A database the suite may connect to in order to create and drop its own.
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
SIGNATURE = "a-benchmark-secret-that-is-long-enough-for-hs256"
DATABASES = ("sqlite", "postgres")


@asynccontextmanager
async def scratch_database(kind: str) -> AsyncIterator[str]:
    """The async URL of a new, empty database, removed when the block ends."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="chattree-bench-") as directory:
            yield f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        return
    name = f"chattree_bench_{secrets.token_hex(6)}"
    await admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{raw_url(POSTGRES_ADMIN).rsplit('/', 1)[0]}/{name}".replace(
            "postgresql://", "postgresql+asyncpg://", 1
        )
    finally:
        await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def raw_url(url: str) -> str:
    """The URL a raw driver takes: no SQLAlchemy `+driver` part."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)

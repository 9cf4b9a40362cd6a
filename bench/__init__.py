"""Benchmarks of ChatTree's design claims (see README.md beside this file).

Each benchmark prints RATIOS against a baseline measured in the same run, on a database
it creates for itself and removes afterwards. This module holds what they share: the
command line, that throwaway database, and the arithmetic of timings.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

# A database the benchmark may connect to in order to create and drop its own.
POSTGRES_ADMIN = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
SIGNATURE = "a-benchmark-secret-that-is-long-enough-for-hs256"


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="where the throwaway database lives (default: sqlite)",
    )
    return parser.parse_args()


@asynccontextmanager
async def scratch_database(kind: str) -> AsyncIterator[str]:
    """The async URL of a new, empty database, removed when the block ends."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="chattree-bench-") as directory:
            yield f"sqlite+aiosqlite:///{Path(directory) / 'bench.db'}"
        return
    name = f"chattree_bench_{secrets.token_hex(6)}"
    await _admin(f'CREATE DATABASE "{name}"')
    try:
        base = POSTGRES_ADMIN.rsplit("/", 1)[0]
        yield f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"
    finally:
        await _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(statement: str) -> None:
    connection = await asyncpg.connect(POSTGRES_ADMIN)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    """Seconds one call of `action` takes."""
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


def median_ms(samples: Sequence[float]) -> float:
    """The median of timings in seconds, in milliseconds: robust to a busy neighbour."""
    return statistics.median(samples) * 1000


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """The median of the ratios of timings taken side by side (the i-th of each in the same
    round): far steadier on a shared machine than a ratio of two medians."""
    return statistics.median(a / b for a, b in zip(numerators, denominators, strict=True))


def header(title: str, db: str) -> None:
    print(f"{title} — {db}, {os.cpu_count()} CPUs")

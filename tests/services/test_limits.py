"""The rate limit counted in the database: a sliding window per key that every process
shares, on SQLite and PostgreSQL, with its own clock so no test waits for time to pass."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from chattree.db.engine import Database, create_database
from chattree.db.migrate import upgrade
from chattree.db.models import RateHit
from chattree.errors import RateLimited
from chattree.services.limits import SharedWindow
from chattree.settings import Settings

START = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = create_database(Settings(db_url=db_url))
    await upgrade(database)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def window(db: Database, clock: Clock, limit: int = 3) -> SharedWindow:
    return SharedWindow(db=db, limit=limit, window=60, what="tries", clock=clock)


async def stored_hits(db: Database) -> int:
    async with db.reader() as session:
        return await session.scalar(select(func.count(RateHit.id))) or 0


async def test_hits_beyond_the_limit_are_turned_away_until_the_oldest_stops_counting(
    db: Database, clock: Clock
) -> None:
    limiter = window(db, clock)
    for seconds in (0, 10, 20):
        clock.now = START + seconds
        await limiter.hit("k")
    clock.now = START + 45
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("k")
    assert refused.value.retry_after == 15
    assert refused.value.message == "too many tries; try again in 15 s"
    clock.now = START + 60  # the first hit no longer counts; the other two still do
    await limiter.hit("k")
    with pytest.raises(RateLimited) as refused:
        await limiter.hit("k")
    assert refused.value.retry_after == 10


async def test_a_turned_away_hit_is_not_counted(db: Database, clock: Clock) -> None:
    limiter = window(db, clock, limit=1)
    await limiter.hit("k")
    for _ in range(5):
        with pytest.raises(RateLimited):
            await limiter.hit("k")
    assert await stored_hits(db) == 1
    clock.now = START + 60
    await limiter.hit("k")


async def test_keys_are_counted_apart_and_every_key_of_a_hit_must_have_room(
    db: Database, clock: Clock
) -> None:
    limiter = window(db, clock, limit=2)
    await limiter.hit("user:a", "addr:1")
    await limiter.hit("user:b", "addr:1")
    with pytest.raises(RateLimited):
        await limiter.hit("user:c", "addr:1")  # the address is spent
    await limiter.hit("user:c", "addr:2")
    assert await stored_hits(db) == 6


@pytest.mark.parametrize(
    "keys",
    [("nul\x00", "nul"), ("\ud800lice", "\\ud800lice"), ("x" * 300, "x" * 301)],
    ids=["nul", "surrogate", "long"],
)
async def test_keys_clients_could_send_are_stored_and_never_merged(
    db: Database, clock: Clock, keys: tuple[str, str]
) -> None:
    limiter = window(db, clock, limit=1)
    first, second = keys
    await limiter.hit(first)
    await limiter.hit(second)
    with pytest.raises(RateLimited):
        await limiter.hit(first)


async def test_hits_that_stopped_counting_are_pruned(db: Database, clock: Clock) -> None:
    limiter = window(db, clock, limit=5)
    for n in range(4):
        await limiter.hit(f"one-off-{n}")
    assert await stored_hits(db) == 4
    clock.now = START + 61
    await limiter.hit("later")
    assert await stored_hits(db) == 1


async def test_concurrent_hits_from_two_processes_never_pass_the_limit(
    db: Database, db_url: str, clock: Clock
) -> None:
    # Two engines with their own connections stand for two server processes.
    other = create_database(Settings(db_url=db_url))
    try:
        limiters = [window(db, clock, limit=5), window(other, clock, limit=5)]
        results = await asyncio.gather(
            *(limiters[n % 2].hit("k") for n in range(20)), return_exceptions=True
        )
    finally:
        await other.dispose()
    assert sum(result is None for result in results) == 5
    assert all(isinstance(r, RateLimited) for r in results if r is not None)
    assert await stored_hits(db) == 5

"""Hashing runs a bounded number of hashes at once; the rest wait their turn, so a
burst of logins cannot take every core from other requests."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher

from chattree.services import passwords
from chattree.services.passwords import (
    HASH_NICENESS,
    HashingThreads,
    hash_password,
    verify_password,
)

WITHIN = 30.0  # seconds: a bound against hanging, never a measure


class Blockers:
    """Calls that block in their thread until released, reporting entries and exits to
    the event loop as they happen."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.seen: asyncio.Queue[str] = asyncio.Queue()
        self.gates: dict[str, threading.Event] = {}

    def call(self, name: str) -> Callable[[], str]:
        gate = self.gates[name] = threading.Event()

        def blocked() -> str:
            self.loop.call_soon_threadsafe(self.seen.put_nowait, f"enter {name}")
            gate.wait(WITHIN)
            self.loop.call_soon_threadsafe(self.seen.put_nowait, f"exit {name}")
            return name

        return blocked

    async def next(self) -> str:
        async with asyncio.timeout(WITHIN):
            return await self.seen.get()


async def test_past_the_limit_hashes_wait_for_a_thread_in_order() -> None:
    threads = HashingThreads(2)
    blockers = Blockers()
    names = ["a", "b", "c", "d", "e"]
    calls = [asyncio.create_task(threads.run(blockers.call(name))) for name in names]
    assert {await blockers.next(), await blockers.next()} == {"enter a", "enter b"}
    assert (threads.running, threads.waiting) == (2, 3)
    order = []
    for name in names:
        blockers.gates[name].set()
        # Each one that leaves lets exactly the next queued one in.
        order += [await blockers.next() for _ in range(2 if name in "abc" else 1)]
        assert threads.running <= 2
    assert order == [
        "exit a", "enter c", "exit b", "enter d", "exit c", "enter e", "exit d", "exit e"
    ]  # fmt: skip
    assert await asyncio.gather(*calls) == names
    assert (threads.running, threads.waiting) == (0, 0)


async def test_a_cancelled_wait_leaves_the_queue() -> None:
    threads = HashingThreads(1)
    blockers = Blockers()
    first = asyncio.create_task(threads.run(blockers.call("first")))
    assert await blockers.next() == "enter first"
    queued = asyncio.create_task(threads.run(blockers.call("never")))
    await asyncio.sleep(0)  # let it queue
    assert threads.waiting == 1
    queued.cancel()
    await asyncio.gather(queued, return_exceptions=True)
    assert threads.waiting == 0
    blockers.gates["first"].set()
    assert await first == "first"
    assert await blockers.next() == "exit first"
    assert blockers.seen.empty()


async def test_logins_queue_behind_the_hashes_already_running() -> None:
    hashing = passwords.hashing
    blockers = Blockers()
    stored = await hash_password("correct horse", use_hash=True)
    holders = [
        asyncio.create_task(hashing.run(blockers.call(str(n)))) for n in range(hashing.limit)
    ]
    for _ in holders:
        assert (await blockers.next()).startswith("enter")
    login = asyncio.create_task(verify_password("correct horse", stored))
    await asyncio.sleep(0)  # let it queue
    assert (hashing.running, hashing.waiting) == (hashing.limit, 1)
    assert not login.done()
    for gate in blockers.gates.values():
        gate.set()
    await asyncio.gather(*holders)
    assert await login


async def test_new_hashes_are_argon2id_with_one_lane() -> None:
    stored = await hash_password("correct horse", use_hash=True)
    assert stored.startswith("argon2$$argon2id$v=19$m=19456,t=2,p=1$")
    assert await verify_password("correct horse", stored)
    assert not await verify_password("wrong horse", stored)


async def test_hashes_stored_with_the_earlier_parameters_still_verify() -> None:
    earlier = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
    stored = f"argon2${earlier.hash('correct horse')}"
    assert await verify_password("correct horse", stored)
    assert not await verify_password("wrong horse", stored)


def niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="threads have a niceness of their own on Linux")
async def test_hashes_run_nicer_than_the_event_loop() -> None:
    loop_thread = niceness()
    assert await HashingThreads(1).run(niceness) == min(19, loop_thread + HASH_NICENESS)
    assert niceness() == loop_thread

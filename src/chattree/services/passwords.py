"""Password storage. Every stored value names its scheme ("argon2$..." or "plain$..."),
so turning USE_HASH on or off later never locks anyone out.

Hashes run in threads of their own (argon2-cffi releases the GIL), a few at a time: 20
logins at once would otherwise hold every core, and every other request would wait for
them. Past the bound, logins queue for a hashing thread; other requests keep a core,
and come first on the cores the hashes use."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ARGON2 = "argon2"
PLAIN = "plain"

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a hash costs one
# core about 40 ms. The library's default (64 MiB, 3 passes, 4 lanes) costs about 7
# times the CPU, in 4 threads per hash. Hashes stored with other parameters keep
# verifying: each names its own.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

T = TypeVar("T")

# Hashing threads run this much nicer than the event loop's thread: when both want a
# core, requests go first and logins take what is left (a quarter of a contended core
# at the least, by Linux's weights).
HASH_NICENESS = 5


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def lower_priority() -> None:
    """Makes the calling thread nicer by HASH_NICENESS (Linux gives each thread its
    own niceness; elsewhere this does nothing)."""
    with contextlib.suppress(AttributeError, OSError):
        thread = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, current + HASH_NICENESS))


class HashingThreads:
    """Runs hashes in at most `limit` threads; the rest wait their turn, in order.
    `waiting` and `running` count the hashes in each state."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.waiting = 0
        self.running = 0
        self._lock = threading.Lock()
        # Threads start on first use, so importing this module costs nothing.
        self._executor = ThreadPoolExecutor(
            max_workers=limit, thread_name_prefix="argon2", initializer=lower_priority
        )

    async def run(self, function: Callable[..., T], *args: object) -> T:
        with self._lock:
            self.waiting += 1
        future = self._executor.submit(self._call, function, *args)
        try:
            return await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancel():  # still queued: it will never run
                with self._lock:
                    self.waiting -= 1
            raise

    def _call(self, function: Callable[..., T], *args: object) -> T:
        with self._lock:
            self.waiting -= 1
            self.running += 1
        try:
            return function(*args)
        finally:
            with self._lock:
                self.running -= 1


# Half the cores hash at most (at least one), so the other half keeps serving.
hashing = HashingThreads(max(1, available_cores() // 2))


@functools.cache
def _dummy_hash() -> str:
    """Verified against when there is no argon2 hash to check (unknown username, plain-text
    account), so every failure costs the same time. Computed on first use, not at import."""
    return _hasher.hash("not a real password")


async def hash_password(password: str, *, use_hash: bool) -> str:
    if not use_hash:
        return f"{PLAIN}${password}"
    hashed = await hashing.run(_hasher.hash, password)
    return f"{ARGON2}${hashed}"


async def verify_password(password: str, stored: str | None) -> bool:
    """True when `password` matches; `stored=None` (no such user) costs the same time."""
    if not stored:
        await hashing.run(_verify_dummy, password)
        return False
    scheme, _, data = stored.partition("$")
    if scheme == PLAIN:
        # Still pay for one hash, so plain-text accounts do not answer faster.
        await hashing.run(_verify_dummy, password)
        return hmac.compare_digest(password.encode(), data.encode())
    return await hashing.run(_verify_argon2, password, data)


def _verify_dummy(password: str) -> None:
    _verify_argon2(password, _dummy_hash())


def _verify_argon2(password: str, hashed: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False

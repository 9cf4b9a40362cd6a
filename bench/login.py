"""#9: `{ me { id } }` while 20 logins run at once (argon2 hashing, USE_HASH=true),
against the same request on an idle server, in alternating phases of one run."""

from __future__ import annotations

import asyncio
import time

from bench.report import Result
from bench.server import user
from bench.stage import Stage, stage
from bench.stats import Summary
from bench.suite import Benchmark

LOGINS = 20
LOGIN = """
mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }
"""


async def me_timings(st: Stage, count: int) -> list[float]:
    samples: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        await st.api.ok("{ me { id } }", token=st.token)
        samples.append(time.perf_counter() - start)
    return samples


async def logging_in(st: Stage, username: str, stop: asyncio.Event) -> int:
    logins = 0
    while not stop.is_set():
        await st.api.ok(LOGIN, {"u": username, "p": "correct horse"})
        logins += 1
    return logins


async def run(result: Result, db: str, smoke: bool) -> None:
    phases, per_phase, logins_at_once = (1, 5, 2) if smoke else (3, 20, LOGINS)
    async with stage(db, USE_HASH="true") as st:
        names = [f"login{n}" for n in range(logins_at_once)]
        for name in names:
            await user(st.api, name)
        idle: list[float] = []
        loaded: list[float] = []
        logins = 0
        await me_timings(st, 5)  # warm-up
        for _ in range(phases):
            idle += await me_timings(st, per_phase)
            stop = asyncio.Event()
            tasks = [asyncio.create_task(logging_in(st, name, stop)) for name in names]
            loaded += await me_timings(st, per_phase)
            stop.set()
            logins += sum(await asyncio.gather(*tasks))
        idle_ms, loaded_ms = Summary.of(idle).scaled(1000), Summary.of(loaded).scaled(1000)
        result.add(db=db, case="idle", me_ms=idle_ms, p99_ratio=1.0)
        result.add(
            db=db,
            case=f"{logins_at_once} logins at once",
            me_ms=loaded_ms,
            p99_ratio=loaded_ms.p99 / idle_ms.p99,
            logins=logins,
        )


LOGIN_LOAD = Benchmark(
    9,
    "login_load",
    "login under load: { me { id } } while 20 logins run at once",
    "p99 <= 3x its idle p99",
    run,
)

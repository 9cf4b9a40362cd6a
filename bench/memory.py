"""#11: the server's resident memory per idle websocket connection (acknowledged, no
subscription) and per active stream (a generation held by the model server, followed
by one subscriber on one of those connections). Baseline: the server's RSS before,
in the same round; /proc/<pid>/statm of the server process."""

from __future__ import annotations

import asyncio

from bench.report import Result
from bench.server import pid_of, rss_bytes
from bench.stage import stage
from bench.stats import Summary
from bench.streams import HELD_WITHIN, WITHIN, check, prompts, root_of, subscribers
from bench.suite import Benchmark


async def run(result: Result, db: str, smoke: bool) -> None:
    # Under 100 streams: the server's connection pool to the model server holds 100.
    count, rounds = (10, 1) if smoke else (90, 3)
    per_connection: list[float] = []
    per_stream: list[float] = []
    async with stage(db) as st:
        root_id = await root_of(st)
        pid = pid_of(st.server)
        for round_ in range(rounds + 1):  # round 0 warms up: first allocations, imports
            await st.model.configure(tokens=1, gated=True)
            at_rest = rss_bytes(pid)
            async with subscribers(st, count) as clients:
                await st.api.ok("{ me { id } }", token=st.token)  # every connection is open
                connected = rss_bytes(pid)
                replies = await prompts(st, root_id, count)
                received = [await c.follow(r) for c, r in zip(clients, replies, strict=True)]
                async with asyncio.timeout(WITHIN):
                    for one in received:
                        await one.opened.wait()
                await st.model.until_held(count, within=HELD_WITHIN)
                streaming = rss_bytes(pid)
                await st.model.release()
                async with asyncio.timeout(WITHIN):
                    for one in received:
                        await one.finished.wait()
            check(received, 1)
            if round_ == 0:
                continue
            per_connection.append((connected - at_rest) / count / 1024)
            per_stream.append((streaming - connected) / count / 1024)
            result.add(
                db=db,
                case="server RSS at rest (MB), baseline",
                value=at_rest / 2**20,
            )
        result.add(db=db, case=f"KB per idle connection ({count})", kb=Summary.of(per_connection))
        result.add(db=db, case=f"KB per active stream ({count})", kb=Summary.of(per_stream))


MEMORY = Benchmark(
    11,
    "memory",
    "memory: RSS per idle websocket connection and per active stream",
    "<= 50 KB and <= 150 KB",
    run,
)

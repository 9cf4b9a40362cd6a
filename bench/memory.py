"""#11: the server's resident memory per idle websocket connection (acknowledged, no
subscription) and per active stream (a generation held by the model server, followed
by one subscriber on one of those connections). Connections and streams are added in
batches that all stay open, so each batch's growth is memory newly taken, never memory
an earlier batch freed. Baseline: the server's RSS before each batch, in the same run;
/proc/<pid>/statm of the server process."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from bench.report import Result
from bench.server import pid_of, rss_bytes
from bench.stage import Stage, stage
from bench.stats import Summary
from bench.streams import HELD_WITHIN, WITHIN, check, prompts, root_of, subscribers
from bench.subscriber import Received, Subscriber
from bench.suite import Benchmark

WARM_UP = 5


async def held_streams(
    st: Stage, root_id: int, clients: list[Subscriber], count: int
) -> list[Received]:
    """`count` more replies held at the model server's gate, one subscriber each."""
    replies = await prompts(st, root_id, count)
    received = [await c.follow(r) for c, r in zip(clients, replies, strict=True)]
    async with asyncio.timeout(WITHIN):
        for one in received:
            await one.opened.wait()
    return received


async def run(result: Result, db: str, smoke: bool) -> None:
    # Streams stay under 100 in all: the server's pool of connections to the model
    # server holds 100 (see docs/performance.md).
    batch, batches = (5, 2) if smoke else (30, 3)
    async with stage(db) as st, AsyncExitStack() as stack:
        root_id = await root_of(st)
        pid = pid_of(st.server)
        await st.model.configure(tokens=1, gated=True)
        warm = await stack.enter_async_context(subscribers(st, WARM_UP))
        everything = await held_streams(st, root_id, warm, WARM_UP)
        await st.model.until_held(WARM_UP, within=HELD_WITHIN)
        result.add(db=db, case="server RSS (MB) after the warm-up", value=rss_bytes(pid) / 2**20)
        per_connection: list[float] = []
        per_stream: list[float] = []
        clients: list[list[Subscriber]] = []
        for _ in range(batches):
            before = rss_bytes(pid)
            opened = await stack.enter_async_context(subscribers(st, batch))
            await st.api.ok("{ me { id } }", token=st.token)  # every connection is open
            per_connection.append((rss_bytes(pid) - before) / batch / 1024)
            clients.append(opened)
        for opened in clients:
            before = rss_bytes(pid)
            everything += await held_streams(st, root_id, opened, batch)
            await st.model.until_held(len(everything), within=HELD_WITHIN)
            per_stream.append((rss_bytes(pid) - before) / batch / 1024)
        await st.model.release()
        async with asyncio.timeout(WITHIN):
            for one in everything:
                await one.finished.wait()
        check(everything, 1)
        result.add(
            db=db,
            case=f"KB per idle connection (batches of {batch})",
            kb=Summary.of(per_connection),
        )
        result.add(
            db=db, case=f"KB per active stream (batches of {batch})", kb=Summary.of(per_stream)
        )


MEMORY = Benchmark(
    11,
    "memory",
    "memory: RSS per idle websocket connection and per active stream",
    "<= 50 KB and <= 150 KB",
    run,
)

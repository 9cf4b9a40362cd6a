"""#6-#8, the live path, through `chattree serve` in its own process, clients in the
suite's process and the model server in a third (bench/upstream.py, 50 tokens/s):
#6 N concurrent generations with one subscriber each, #7 one generation followed by
1,000 subscribers, #8 the time from `prompt` to the first delta."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from tests.harness import GraphQLFailure

from bench.report import Result
from bench.rows import USER_TEXT, add_chain
from bench.server import cpu_seconds, pid_of
from bench.stage import MODEL, Stage, stage
from bench.stats import Summary, paired_ratios
from bench.subscriber import Received, Subscriber, subscriber
from bench.suite import Benchmark
from bench.upstream import Stuck

RATE = 50.0  # tokens per second of each stream
PROMPT = """
mutation($p: ID!, $c: String!) { prompt(parentId: $p, content: $c) { assistantMessage { id } } }
"""
PARALLEL_PROMPTS = 20
WITHIN = 300.0  # seconds any one wait of a run may take: generous, it only bounds a hang
# Every held stream is at the gate long before this (one prompt and one request each).
HELD_WITHIN = 30.0


@asynccontextmanager
async def subscribers(st: Stage, count: int) -> AsyncIterator[list[Subscriber]]:
    async with AsyncExitStack() as stack:
        yield [
            await stack.enter_async_context(subscriber(st.server.ws_url, st.token))
            for _ in range(count)
        ]


async def prompts(st: Stage, parent_id: int, count: int) -> list[str]:
    """Starts `count` replies under `parent_id`: their ids."""
    limit = asyncio.Semaphore(PARALLEL_PROMPTS)

    async def one() -> str:
        async with limit:
            data = await st.api.ok(PROMPT, {"p": str(parent_id), "c": USER_TEXT}, token=st.token)
        reply: str = data["prompt"]["assistantMessage"]["id"]
        return reply

    return list(await asyncio.gather(*(one() for _ in range(count))))


def check(received: Sequence[Received], tokens: int) -> None:
    for one in received:
        if one.errors or one.next_index != tokens or one.status != "COMPLETE":
            raise AssertionError(
                f"reply {one.message_id}: {one.next_index} of {tokens} tokens, ended "
                f"{one.status}, {one.errors[:3]}"
            )


@dataclass(frozen=True)
class Round:
    latencies_ms: list[float]
    seconds: float  # from the release to the last subscriber's end
    server_cpu: float  # seconds, every server process together
    model_cpu: float  # seconds of the model server's process
    client_cpu: float  # seconds of this process: every subscriber's client

    @property
    def tokens(self) -> int:
        return len(self.latencies_ms)


async def stream_round(
    stages: Sequence[Stage],
    roots: Sequence[int],
    *,
    generations: int,
    per_generation: int,
    tokens: int,
    rate: float = RATE,
) -> Round:
    """Runs `generations` gated replies on each of `stages` (servers of one database, or
    users of one server), under the root of the same place in `roots`, with
    `per_generation` subscribers each, every one on its own connection to the server
    that generates it, and checks what each subscriber got."""
    model = stages[0].model
    await model.configure(tokens=tokens, rate=rate, gated=True)
    async with AsyncExitStack() as stack:
        received: list[Received] = []
        for st, root_id in zip(stages, roots, strict=True):
            clients = await stack.enter_async_context(subscribers(st, generations * per_generation))
            replies = await prompts(st, root_id, generations)
            for g, reply in enumerate(replies):
                for s in range(per_generation):
                    received.append(await clients[g * per_generation + s].follow(reply))
        async with asyncio.timeout(WITHIN):
            for one in received:  # each opens with its snapshot: nothing generated yet
                await one.opened.wait()
        await model.until_held(generations * len(stages), within=HELD_WITHIN)
        pids = list(dict.fromkeys(pid_of(st.server) for st in stages))  # each server once
        before = [cpu_seconds(pid) for pid in [*pids, model.pid]]
        client_before = time.process_time()
        start = time.perf_counter()
        await model.release()
        async with asyncio.timeout(WITHIN):
            for one in received:
                await one.finished.wait()
        seconds = time.perf_counter() - start
        client_cpu = time.process_time() - client_before
        spent = [cpu_seconds(pid) - b for pid, b in zip([*pids, model.pid], before, strict=True)]
    check(received, tokens)
    latencies = [ns / 1e6 for one in received for ns in one.latencies_ns]
    return Round(latencies, seconds, sum(spent[:-1]), spent[-1], client_cpu)


async def root_of(st: Stage) -> int:
    return (await add_chain(st.db, st.user_id, MODEL, 1))[0].id


async def latency_rounds(
    result: Result, db: str, *, counts: Sequence[int], tokens: int, fan_out: bool
) -> None:
    """One round for each count: of generations with one subscriber each, or (fan_out)
    of subscribers of one generation. Baseline: the first count (1)."""
    column = "subscribers" if fan_out else "streams"
    async with stage(db) as st:
        root_id = await root_of(st)
        baseline: Summary | None = None
        for count in counts:
            try:
                done = await stream_round(
                    [st],
                    [root_id],
                    generations=1 if fan_out else count,
                    per_generation=count if fan_out else 1,
                    tokens=tokens,
                )
            except (Stuck, GraphQLFailure) as exc:
                # Reported as the figure of this count; larger counts would fail alike.
                result.add(db=db, **{column: count}, status=f"{type(exc).__name__}: {exc}"[:200])
                break
            latency = Summary.of(done.latencies_ms)
            baseline = baseline or latency
            result.add(
                db=db,
                **{column: count},
                tokens=done.tokens,
                latency_ms=latency,
                p99_ratio_to_1=latency.p99 / baseline.p99,
                server_cpu_us_per_token=done.server_cpu * 1e6 / done.tokens,
                server_cpu_share=done.server_cpu / done.seconds,
                client_cpu_share=done.client_cpu / done.seconds,
            )


async def concurrent_streams(result: Result, db: str, smoke: bool) -> None:
    counts = (1, 5) if smoke else (1, 50, 200, 500)
    await latency_rounds(result, db, counts=counts, tokens=10 if smoke else 100, fan_out=False)


async def fanout(result: Result, db: str, smoke: bool) -> None:
    counts = (1, 10) if smoke else (1, 1000)
    await latency_rounds(result, db, counts=counts, tokens=10 if smoke else 100, fan_out=True)


async def first_token(result: Result, db: str, smoke: bool) -> None:
    """`prompt` sent to the first delta received, over an open subscription connection,
    against a `{ me { id } }` round trip in the same rounds. The model answers at once
    (no delay of its own), so all of that time is the server's."""
    rounds = 3 if smoke else 30
    async with stage(db) as st:
        await st.model.configure(tokens=5)
        root_id = await root_of(st)
        samples: dict[str, list[float]] = {"me { id }": [], "prompt to first delta": []}
        upstream_to_client: list[float] = []
        async with subscriber(st.server.ws_url, st.token) as client:
            for round_ in range(rounds + 1):
                start = time.perf_counter()
                await st.api.ok("{ me { id } }", token=st.token)
                me = time.perf_counter() - start
                sent = time.monotonic_ns()
                [reply] = await prompts(st, root_id, 1)
                received = await client.follow(reply)
                async with asyncio.timeout(WITHIN):
                    await received.finished.wait()
                check([received], 5)
                assert received.first_delta_ns is not None and received.first_written_ns
                if round_ == 0:
                    continue  # warm-up
                samples["me { id }"].append(me)
                samples["prompt to first delta"].append((received.first_delta_ns - sent) / 1e9)
                upstream_to_client.append(received.first_delta_ns - received.first_written_ns)
        result.timings("me { id }", samples, db=db)
        result.add(
            db=db,
            case="upstream write to first delta",
            ms=Summary.of(upstream_to_client).scaled(1e-6),
            ratio=paired_ratios(
                [ns / 1e9 for ns in upstream_to_client], samples["me { id }"]
            ).median,
        )


STREAMS = Benchmark(
    6,
    "streams",
    "concurrent streams at 50 tokens/s, one subscriber each",
    "every token once and in order; p99 upstream write to receipt <= 100 ms at N = 500",
    concurrent_streams,
)
FANOUT = Benchmark(
    7,
    "fanout",
    "fan-out: 1 generation at 50 tokens/s, 1,000 subscribers",
    "all get everything; p99 <= 100 ms",
    fanout,
)
FIRST_TOKEN = Benchmark(
    8,
    "first_token",
    "first token: prompt to the first delta (the model adds no delay)",
    "<= 10 ms p50 added",
    first_token,
)

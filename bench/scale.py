"""#10: stream capacity of two server processes on one PostgreSQL against one. The same
generations, each followed by one subscriber on the process that runs it, emitted as
fast as the model server writes: capacity is tokens delivered per second from the
release to the last subscriber's end. With one process all of them run there; with
two, half on each.

The generations belong to 20 users, 5 each, as a deployment's streams belong to many
users (MAX_STREAMS_PER_USER is 4 by default): every reply's final write holds its
user's row, so one user's replies end one after another, on any number of processes."""

from __future__ import annotations

import dataclasses

from bench.report import Result
from bench.server import chattree, client, server_env, user
from bench.stage import Stage, stage
from bench.stats import paired_ratios
from bench.streams import root_of, stream_round
from bench.suite import Benchmark


async def run(result: Result, db: str, smoke: bool) -> None:
    users, generations, tokens, rounds = (2, 4, 10, 1) if smoke else (20, 100, 200, 3)
    async with stage(db) as one:
        env = server_env(one.url, one.model.base_url)
        async with chattree(env) as second, client(second.url) as api:
            people = [await person(one, f"bench_{k}") for k in range(users)]
            roots = [await root_of(st) for st in people]
            # With two processes, every other user's replies run on the second.
            spread = [
                dataclasses.replace(st, server=second, api=api) if k % 2 else st
                for k, st in enumerate(people)
            ]
            capacity: dict[int, list[float]] = {1: [], 2: []}
            for round_ in range(rounds):
                for processes in (1, 2) if round_ % 2 else (2, 1):
                    done = await stream_round(
                        people if processes == 1 else spread,
                        roots,
                        generations=generations // users,
                        per_generation=1,
                        tokens=tokens,
                        rate=0,
                    )
                    capacity[processes].append(done.tokens / done.seconds)
                    result.add(
                        db=db,
                        processes=processes,
                        round=round_ + 1,
                        tokens=done.tokens,
                        tokens_per_s=done.tokens / done.seconds,
                        server_cpu_share=done.server_cpu / done.seconds,
                        model_cpu_share=done.model_cpu / done.seconds,
                        client_cpu_share=done.client_cpu / done.seconds,
                    )
        ratio = paired_ratios(capacity[2], capacity[1])
        result.add(db=db, processes="2 / 1", capacity_ratio=ratio.median, ratio_p95=ratio.p95)


async def person(st: Stage, name: str) -> Stage:
    """`st` as another user of the same servers."""
    token, user_id = await user(st.api, name)
    return dataclasses.replace(st, token=token, user_id=user_id)


TWO_PROCESSES = Benchmark(
    10,
    "two_processes",
    "two processes on PostgreSQL vs one: stream capacity",
    ">= 1.7x",
    run,
    databases=("postgres",),
)

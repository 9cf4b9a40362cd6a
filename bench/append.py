"""#1: appending at depth 10, 1,000 and 10,000. Two operations: the `prompt` service
call in the suite's own process (its write transaction and the start of the reply,
timed without the reply), and `prompt(wait: true)` over HTTP to the server process,
end to end with an instant model. On SQLite, and on PostgreSQL never analysed and
analysed. Baseline: the same operation at depth 10, in the same rounds."""

from __future__ import annotations

import time

from bench.report import Result
from bench.rows import USER_TEXT, add_chain, analyze
from bench.stage import MODEL, Stage, stage
from bench.suite import Benchmark
from chattree.app import running_services
from chattree.services.bundle import Services

PROMPT = """
mutation($p: ID!, $c: String!) {
  prompt(parentId: $p, content: $c, wait: true) { assistantMessage { id status error } }
}
"""


async def service_call(services: Services, stage: Stage, parent_id: int) -> float:
    start = time.perf_counter()
    result = await services.conversations.prompt(
        user_id=stage.user_id, parent_id=parent_id, content=USER_TEXT, wait=False
    )
    seconds = time.perf_counter() - start
    await services.generations.wait(result.assistant_message.id)
    return seconds


async def end_to_end(stage: Stage, parent_id: int, failures: dict[str, int]) -> float:
    """Seconds of one prompt; a reply that did not complete is counted in `failures` by
    its error: the model server refuses a request body over 1 MB, as a real model
    refuses a prompt longer than its context."""
    start = time.perf_counter()
    data = await stage.api.ok(PROMPT, {"p": str(parent_id), "c": USER_TEXT}, token=stage.token)
    seconds = time.perf_counter() - start
    reply = data["prompt"]["assistantMessage"]
    if reply["status"] != "COMPLETE":
        failure = f"{reply['status']}: {reply['error']}"
        failures[failure] = failures.get(failure, 0) + 1
    return seconds


async def run(result: Result, db: str, smoke: bool) -> None:
    depths = (10, 100) if smoke else (10, 1000, 10000)
    rounds = 2 if smoke else 10
    variants = [True] if db == "sqlite" else [False, True]
    for analysed in variants:
        label = db if db == "sqlite" else f"{db} {'analysed' if analysed else 'never analysed'}"
        async with stage(db, analysed=analysed) as st:
            await st.model.configure(tokens=5)
            # Assistant messages sit at even depths: prompts go under them.
            chain = await add_chain(st.db, st.user_id, MODEL, max(depths) + 1)
            if analysed:
                await analyze(st.db)
            parents = {depth: chain[depth].id for depth in depths}
            calls: dict[str, list[float]] = {f"parent at {d}": [] for d in depths}
            prompts: dict[str, list[float]] = {f"parent at {d}": [] for d in depths}
            failures: dict[str, dict[str, int]] = {key: {} for key in prompts}
            async with running_services(st.settings()) as services:
                for depth in depths:  # warm-up
                    await service_call(services, st, parents[depth])
                    await end_to_end(st, parents[depth], {})
                for round_ in range(rounds):
                    for depth in depths if round_ % 2 else reversed(depths):
                        key = f"parent at {depth}"
                        calls[key].append(await service_call(services, st, parents[depth]))
                        prompts[key].append(await end_to_end(st, parents[depth], failures[key]))
            baseline = f"parent at {depths[0]}"
            result.timings(baseline, calls, db=label, operation="service call")
            result.timings(baseline, prompts, db=label, operation="prompt (HTTP)")
            for key, by_error in failures.items():
                for error, count in by_error.items():
                    result.note(f"{label}, prompt {key}: {count} of {rounds} replies {error}")


APPEND = Benchmark(
    1,
    "append",
    "append a message at depth 10 / 1,000 / 10,000",
    "depth 10,000 <= 1.2x depth 10 on both databases (never analysed and analysed)",
    run,
)

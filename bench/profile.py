"""Profiles of the hot paths that miss a target, with pyinstrument. The app runs in this
process here (tests/harness.py), so the profile sees the server's frames; the
benchmarks themselves keep the server in a process of its own.

    python -m bench.profile branch|prompt|first_token|streams [--db sqlite|postgres] [--size N]

Writes bench/results/profile_<case>_<db>.txt and prints its top."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

from pyinstrument import Profiler
from pyinstrument.renderers import ConsoleRenderer
from tests.harness import Api, running_server

from bench import DATABASES, SIGNATURE, scratch_database
from bench.reads import BRANCH
from bench.report import results_folder
from bench.rows import USER_TEXT, add_chain, analyze, never_analyze
from bench.stage import MODEL
from bench.subscriber import subscriber
from bench.upstream import PacedModelServer
from chattree.db.engine import create_database
from chattree.db.migrate import upgrade
from chattree.settings import Settings

REPEATS = 10
STREAMS = 50
PROMPT = """
mutation($p: ID!, $c: String!) {
  prompt(parentId: $p, content: $c, wait: true) { assistantMessage { id } }
}
"""
STREAM_PROMPT = """
mutation($p: ID!, $c: String!) { prompt(parentId: $p, content: $c) { assistantMessage { id } } }
"""


async def profile(case: str, db: str, size: int) -> str:
    model = PacedModelServer(models=[MODEL])
    async with scratch_database(db) as url, model:
        setup = create_database(Settings(db_url=url))
        try:
            await upgrade(setup)
            await never_analyze(setup)
        finally:
            await setup.dispose()
        settings = Settings(
            db_url=url,
            signature=SIGNATURE,
            model_base_url=model.base_url,
            shutdown_grace=0,
            # The profiled user starts replies far faster than any person.
            max_streams_per_user=1_000_000,
            prompts_per_minute=1_000_000,
        )
        async with running_server(settings) as api:
            token = await api.register("profiled")
            user_id = int((await api.ok("{ me { id } }", token=token))["me"]["id"])
            nodes = await add_chain(api.services.db, user_id, MODEL, size + 1)
            if case == "branch":
                await analyze(api.services.db)
            operation = operations(api, model, token, case, nodes[0].id, nodes[-1].id)
            await operation()  # warm-up
            # Samples where the thread runs (the event loop's idle wait included), so
            # the flat view below is CPU spent, not time spent awaiting.
            profiler = Profiler(async_mode="disabled")
            with profiler:
                for _ in range(1 if case == "streams" else REPEATS):
                    await operation()
    tree = profiler.output(ConsoleRenderer(time="percent_of_total"))
    flat = profiler.output(ConsoleRenderer(flat=True, time="percent_of_total"))
    return f"{tree}\n\nSelf time, hottest first:\n{flat}"


def operations(
    api: Api, model: PacedModelServer, token: str, case: str, root_id: int, leaf_id: int
) -> Callable[[], Awaitable[object]]:
    async def branch() -> object:
        conversation = await api.ok(
            "query($id: ID!) { message(id: $id) { conversationId } }",
            {"id": str(root_id)},
            token=token,
        )
        return await api.ok(BRANCH, {"id": conversation["message"]["conversationId"]}, token=token)

    async def prompt() -> object:
        return await api.ok(PROMPT, {"p": str(leaf_id), "c": USER_TEXT}, token=token)

    async def streams() -> object:
        """STREAMS generations at 50 tokens/s, one subscriber each, in this process."""
        model.tokens, model.rate = 50, 50.0
        async with AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(subscriber(api.ws_url, token))
                for _ in range(STREAMS)
            ]
            received = []
            for client in clients:
                data = await api.ok(STREAM_PROMPT, {"p": str(root_id), "c": "go"}, token=token)
                received.append(await client.follow(data["prompt"]["assistantMessage"]["id"]))
            for one in received:
                await one.finished.wait()
        return received

    async def first_token() -> object:
        data = await api.ok(STREAM_PROMPT, {"p": str(root_id), "c": USER_TEXT}, token=token)
        await api.services.generations.wait(int(data["prompt"]["assistantMessage"]["id"]))
        return data

    cases = {"branch": branch, "prompt": prompt, "first_token": first_token, "streams": streams}
    return cases[case]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("case", choices=("branch", "prompt", "first_token", "streams"))
    parser.add_argument("--db", choices=DATABASES, default="sqlite")
    parser.add_argument("--size", type=int, default=5000, help="messages on the branch")
    args = parser.parse_args(argv)
    text = asyncio.run(profile(args.case, args.db, args.size))
    folder = results_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"profile_{args.case}_{args.db}.txt"
    path.write_text(text)
    print("\n".join(text.splitlines()[:40]))
    print("\n".join(text.split("Self time, hottest first:")[1].splitlines()[:40]))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

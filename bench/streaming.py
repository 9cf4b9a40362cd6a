"""The live path of DESIGN.md ("Generation"), measured through the real app.

One reply of 2000 upstream chunks (no delay between them) is generated with 0 websocket
subscribers (the baseline), then with 1, 10 and 50, each following it over
graphql-transport-ws. Every subscriber's concatenated deltas must equal the stored
content. Printed: the time of one reply with N subscribers as a ratio to the baseline,
and how many events the generator published for the upstream chunks (coalescing).

Run from the project root: .venv/bin/python -m bench.streaming [--db sqlite|postgres]
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

from aiohttp import web
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api, running_server
from tests.ws import Client, connect, content_of, next_event, stream_events, subscribe_stream

from bench import SIGNATURE, header, median_ms, paired_ratio, parse_args, scratch_database
from chattree.broker import Broker, Event, Item
from chattree.db.models import Message, Status
from chattree.settings import Settings

CHUNKS = 2000
CHUNK_SIZE = 3
TEXT = "".join(f"token{i:05d} " for i in range(CHUNKS))[: CHUNKS * CHUNK_SIZE]
SUBSCRIBERS = (0, 1, 10, 50)
RUNS = 15  # of each number of subscribers
TIMEOUT = 10.0

START = """
mutation($c: String!) {
  createConversation(content: $c, wait: true) { conversation { root { id } } }
}
"""
PROMPT = """
mutation($p: ID!, $c: String!) {
  prompt(parentId: $p, content: $c) { assistantMessage { id status } }
}
"""


@dataclass
class GatedModelServer(FakeModelServer):
    """Holds each streaming request until `gate` opens, so that subscribers are in place
    before the first token and the clock measures the stream alone."""

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    # Set when a streaming request reaches the closed gate.
    held: asyncio.Event = field(default_factory=asyncio.Event)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        # aiohttp keeps the body it read, so the server reads it again below.
        streaming = (await request.json()).get("stream")
        if streaming and not self.gate.is_set():
            self.held.set()
            await self.gate.wait()
        return await super()._chat(request)


class PublishCounter:
    """Counts the events the generator hands to the broker, per message."""

    def __init__(self, broker: Broker) -> None:
        self.events: Counter[int] = Counter()
        publish = broker.publish

        def counting(item: Item) -> None:
            if isinstance(item, Event):
                self.events[item.message_id] += 1
            publish(item)

        broker.publish = counting  # type: ignore[method-assign]


@dataclass(frozen=True)
class Run:
    seconds: float
    events: int


async def one_reply(
    api: Api,
    fake: GatedModelServer,
    counter: PublishCounter,
    *,
    token: str,
    root_id: str,
    clients: Sequence[Client],
) -> Run:
    """Starts a reply and subscribes every client while the model server holds it, then
    times it from the release to the stored row and every subscriber's last event."""
    fake.gate.clear()
    fake.held.clear()
    data = await api.ok(PROMPT, {"p": root_id, "c": "go"}, token=token)
    reply_id = data["prompt"]["assistantMessage"]["id"]
    operations = [await subscribe_stream(client, reply_id) for client in clients]
    # The snapshot each subscription opens with: nothing generated yet.
    firsts = [await next_event(operation) for operation in operations]
    await asyncio.wait_for(fake.held.wait(), TIMEOUT)
    start = time.perf_counter()
    fake.gate.set()
    _, *rests = await asyncio.gather(
        api.services.generations.wait(int(reply_id)),
        *(stream_events(operation) for operation in operations),
    )
    seconds = time.perf_counter() - start
    async with api.services.db.reader() as session:
        row = await session.get_one(Message, int(reply_id))
    if row.status is not Status.COMPLETE or row.content != TEXT:
        raise SystemExit(f"reply {reply_id} ended {row.status.value} with other text")
    for first, rest in zip(firsts, rests, strict=True):
        if content_of([first, *rest]) != row.content:
            raise SystemExit(f"a subscriber of reply {reply_id} put together other text")
    return Run(seconds, counter.events[int(reply_id)])


async def measure(api: Api, fake: GatedModelServer) -> dict[int, list[Run]]:
    counter = PublishCounter(api.services.broker)
    token = await api.register("streambench")
    fake.gate.set()
    data = await api.ok(START, {"c": "warm up"}, token=token)
    root_id = data["createConversation"]["conversation"]["root"]["id"]
    runs: dict[int, list[Run]] = {count: [] for count in SUBSCRIBERS}
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(connect(api.ws_url, token=token))
            for _ in range(max(SUBSCRIBERS))
        ]

        async def reply(count: int) -> Run:
            return await one_reply(
                api, fake, counter, token=token, root_id=root_id, clients=clients[:count]
            )

        for count in (min(SUBSCRIBERS), max(SUBSCRIBERS)):  # warm-up
            await reply(count)
        for run in range(RUNS):
            for count in SUBSCRIBERS if run % 2 else reversed(SUBSCRIBERS):
                runs[count].append(await reply(count))
    return runs


def report(runs: dict[int, list[Run]]) -> None:
    chunks = -(-len(TEXT) // CHUNK_SIZE)
    events = [run.events for by_count in runs.values() for run in by_count]
    typical = statistics.median(events)
    print(f"\nOne reply: {len(TEXT)} characters in {chunks} upstream chunks, no delay")
    print(
        f"Events published per reply: median {typical:g} (from {min(events)} to {max(events)}), "
        f"done event included: one event per {chunks / typical:.0f} upstream chunks"
    )
    baseline = [run.seconds for run in runs[0]]
    print(f"\nsubscribers  time of one reply (median of {RUNS})  ratio to 0 subscribers")
    for count, by_count in runs.items():
        seconds = [run.seconds for run in by_count]
        label = f"{count} (baseline)" if count == 0 else str(count)
        ratio = paired_ratio(seconds, baseline)
        print(f"{label:<12} {median_ms(seconds):10.1f} ms {'':21} {ratio:5.2f}")


async def main(kind: str) -> None:
    header("ChatTree streaming benchmark", kind)
    fake = GatedModelServer()
    async with scratch_database(kind) as url, fake:
        fake.default_reply = lambda text: Reply(content=TEXT, chunk_size=CHUNK_SIZE)
        settings = Settings(
            db_url=url,
            signature=SIGNATURE,
            model_base_url=fake.base_url,
            shutdown_grace=0,
            # One user sends every reply of the run, faster than any person would.
            prompts_per_minute=1_000_000,
        )
        async with running_server(settings) as api:
            runs = await measure(api, fake)
    report(runs)


if __name__ == "__main__":
    asyncio.run(main(parse_args(__doc__ or "").db))

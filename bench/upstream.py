"""The model server of the suite: tests/fake_model.py's loopback server, run as a child
process so that its work does not share a core's event loop with the clients.

Each streamed token is `<index>:<monotonic ns when written>|`. CLOCK_MONOTONIC is one
clock for every process of the machine, so a client computes each token's latency
from the upstream write to its own receipt, and checks that every token came once and
in order. Streams are paced on an absolute schedule (`rate` tokens per second) and may
be held at a gate until the benchmark releases them, so every subscriber is in place
before the first token.

    python -m bench.upstream   # prints its port, serves until its standard input closes
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from tests.fake_model import FakeModelServer, Reply, sse


def token(index: int) -> str:
    return f"{index}:{time.monotonic_ns()}|"


def parse_tokens(text: str) -> list[tuple[int, int]]:
    """(index, write ns) of each complete token of `text`."""
    found: list[tuple[int, int]] = []
    for piece in text.split("|")[:-1]:
        index, written = piece.split(":")
        found.append((int(index), int(written)))
    return found


@dataclass
class PacedModelServer(FakeModelServer):
    tokens: int = 5
    rate: float = 0.0  # tokens per second of each stream; 0: as fast as it can write
    gated: bool = False
    held: int = 0
    finished: int = 0
    _gate: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        # The fake's own routes and the control routes: an aiohttp app is frozen once
        # served, so this builds it rather than extending the fake's.
        app = web.Application()
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/bench/config", self._config)
        app.router.add_post("/bench/release", self._release)
        app.router.add_get("/bench/state", self._state)
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def _config(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.tokens, self.rate = int(body["tokens"]), float(body["rate"])
        self.gated = bool(body["gated"])
        self._gate.clear()
        return await self._state(request)

    async def _release(self, request: web.Request) -> web.Response:
        self._gate.set()
        return await self._state(request)

    async def _state(self, _: web.Request) -> web.Response:
        state = {"held": self.held, "finished": self.finished, "active": self.active_streams}
        return web.json_response(state)

    async def _stream(
        self, request: web.Request, reply: Reply, *, model: str, usage: bool
    ) -> web.StreamResponse:
        if self.gated:
            self.held += 1
            try:
                await self._gate.wait()
            finally:
                self.held -= 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.active_streams += 1
        try:
            start = time.monotonic()
            for index in range(self.tokens):
                if self.rate:
                    wait = start + index / self.rate - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                await response.write(chunk(model, {"content": token(index)}))
            await response.write(chunk(model, {}, "stop"))
            await response.write(sse("[DONE]"))
            await response.write_eof()
            self.finished += 1
            return response
        finally:
            self.active_streams -= 1


def chunk(model: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return sse({"object": "chat.completion.chunk", "model": model, "choices": [choice]})


class Stuck(Exception):
    """Fewer streams than expected reached the model server."""


@dataclass
class Upstream:
    """The benchmark's handle on the child: its URL, and its control routes."""

    root_url: str
    http: aiohttp.ClientSession
    pid: int

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    async def configure(self, *, tokens: int, rate: float = 0.0, gated: bool = False) -> None:
        body = {"tokens": tokens, "rate": rate, "gated": gated}
        async with self.http.post(f"{self.root_url}/bench/config", json=body) as response:
            response.raise_for_status()

    async def release(self) -> None:
        async with self.http.post(f"{self.root_url}/bench/release") as response:
            response.raise_for_status()

    async def state(self) -> dict[str, int]:
        async with self.http.get(f"{self.root_url}/bench/state") as response:
            state: dict[str, int] = await response.json()
            return state

    async def until_held(self, count: int, within: float) -> None:
        """Until `count` streams wait at the gate; Stuck if they do not within `within`
        seconds (a bound on a hang, not a timing: a held stream stays held)."""
        try:
            async with asyncio.timeout(within):
                # Polled: the gate is in another process.
                while (await self.state())["held"] < count:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
        except TimeoutError:
            held = (await self.state())["held"]
            await self.release()
            raise Stuck(f"only {held} of {count} streams reached the model server") from None


@asynccontextmanager
async def upstream() -> AsyncIterator[Upstream]:
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.upstream",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        port = int((await asyncio.wait_for(child.stdout.readline(), 30)).decode())
        async with aiohttp.ClientSession() as http:
            yield Upstream(f"http://127.0.0.1:{port}", http, child.pid)
    finally:
        child.stdin.close()
        try:
            await asyncio.wait_for(child.wait(), 10)
        except TimeoutError:
            child.kill()
            await child.wait()


async def serve() -> None:
    async with PacedModelServer(models=["bench-model"]) as server:
        print(json.dumps(server.port), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        await reader.read()  # until the benchmark closes our standard input


if __name__ == "__main__":
    asyncio.run(serve())

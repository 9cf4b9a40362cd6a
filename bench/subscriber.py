"""A lean graphql-transport-ws client for the streaming benchmarks: every message is
stamped with CLOCK_MONOTONIC the moment the socket hands it over, and each
subscription checks its tokens (bench/upstream.py) as they arrive: every index once,
in order, and the latency from the upstream write to this receipt."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.upstream import parse_tokens

STREAM = """
subscription($id: ID!) {
  messageStream(messageId: $id) { delta status done error }
}
"""


@dataclass
class Received:
    """What one subscription got, checked as it came."""

    message_id: str
    latencies_ns: list[int] = field(default_factory=list)
    next_index: int = 0
    errors: list[str] = field(default_factory=list)
    status: str | None = None
    first_delta_ns: int | None = None
    first_written_ns: int | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _pending: str = ""

    def take(self, event: dict[str, Any], now: int) -> None:
        self.opened.set()
        delta: str = event["delta"]
        if delta and self.first_delta_ns is None:
            self.first_delta_ns = now
        self._pending += delta
        complete, _, self._pending = self._pending.rpartition("|")
        for index, written in parse_tokens(complete + "|" if complete else ""):
            if index != self.next_index:
                self.errors.append(f"token {index} where {self.next_index} was due")
            if self.first_written_ns is None:
                self.first_written_ns = written
            self.next_index = index + 1
            self.latencies_ns.append(now - written)
        if event["done"]:
            self.status = event["status"]

    def fail(self, reason: str) -> None:
        self.errors.append(reason)
        self.opened.set()
        self.finished.set()


class Subscriber:
    """One websocket connection, acknowledged, with any number of subscriptions."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.subscriptions: dict[str, Received] = {}
        self._ids = itertools.count(1)
        self._reader = asyncio.create_task(self._read())

    async def follow(self, message_id: str) -> Received:
        operation = str(next(self._ids))
        received = Received(message_id)
        self.subscriptions[operation] = received
        payload = {"query": STREAM, "variables": {"id": message_id}}
        message = {"id": operation, "type": "subscribe", "payload": payload}
        await self.ws.send(orjson.dumps(message).decode())
        return received

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.monotonic_ns()
                message = orjson.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self.ws.send('{"type":"pong"}')
                    continue
                received = self.subscriptions.get(str(message.get("id")))
                if received is None:
                    continue
                if kind == "next":
                    if message["payload"].get("errors"):
                        received.fail(str(message["payload"]["errors"]))
                    else:
                        received.take(message["payload"]["data"]["messageStream"], now)
                elif kind == "error":
                    received.fail(str(message["payload"]))
                elif kind == "complete":
                    received.finished.set()
        except ConnectionClosed:
            pass
        for received in self.subscriptions.values():
            if not received.finished.is_set():
                received.fail("the connection closed")

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()


@asynccontextmanager
async def subscriber(url: str, token: str) -> AsyncIterator[Subscriber]:
    async with connect(
        url,
        subprotocols=[Subprotocol("graphql-transport-ws")],
        compression=None,
        max_size=None,
        open_timeout=120,
        close_timeout=5,
    ) as ws:
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await ws.send(orjson.dumps(init).decode())
        ack = orjson.loads(await asyncio.wait_for(ws.recv(), 120))
        if ack.get("type") != "connection_ack":
            raise AssertionError(f"the server refused the connection: {ack}")
        client = Subscriber(ws)
        try:
            yield client
        finally:
            client._reader.cancel()

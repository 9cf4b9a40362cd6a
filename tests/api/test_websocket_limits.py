"""Websocket limits, as `chattree serve` configures them (the harness passes the same
uvicorn options): operations per connection (WS_MAX_OPERATIONS), the connection_init
deadline (WS_INIT_TIMEOUT), the largest message (WS_MAX_MESSAGE_BYTES), and the ping
that closes a peer which stopped answering (WS_PING_INTERVAL, WS_PING_TIMEOUT)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

import pytest
from starlette.routing import WebSocketRoute
from websockets.exceptions import ConnectionClosed
from websockets.frames import Frame, Opcode

from chattree.api.view import GraphQLView
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.ws import (
    PROTOCOLS,
    TRANSPORT_WS,
    OperationFailed,
    connect,
    final_message,
    start_reply,
    stream_events,
    subscribe_stream,
)

MAX_OPERATIONS = 2
MAX_MESSAGE = 4096
TIMEOUT = 20.0  # generous: each wait here ends as soon as the server acts


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {
        **server_env,
        "WS_MAX_OPERATIONS": str(MAX_OPERATIONS),
        "WS_INIT_TIMEOUT": "2",
        "WS_MAX_MESSAGE_BYTES": str(MAX_MESSAGE),
        # Pings come often; a live client has plenty of time to answer each.
        "WS_PING_INTERVAL": "0.5",
        "WS_PING_TIMEOUT": "3",
        "MODEL_FIRST_TOKEN_TIMEOUT": "60",
        "MODEL_IDLE_TIMEOUT": "60",
    }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_operations_beyond_the_limit_of_a_connection_are_rate_limited(
    api: Api, alice: str, fake_model: FakeModelServer, protocol: str
) -> None:
    fake_model.replies["Hold"] = Reply(stall_after=0)  # STREAMING until the test ends
    _, held = await start_reply(api, alice, "Hold")
    _, done = await start_reply(api, alice, "Done")
    await final_message(api, alice, done)
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        running = [await subscribe_stream(ws, held) for _ in range(MAX_OPERATIONS)]
        with pytest.raises(OperationFailed) as refused:
            await (await subscribe_stream(ws, held)).next()
        error = refused.value.errors[0]
        assert error["extensions"] == {"code": "RATE_LIMITED", "retryAfter": 1}
        assert error["message"] == (
            f"too many operations on this connection (the most is {MAX_OPERATIONS}); "
            "complete one or open another connection"
        )
        # Ending one makes room; the connection itself stayed open.
        await running[0].stop()
        events = await stream_events(await subscribe_stream(ws, done))
        assert events[-1]["done"] and events[-1]["status"] == "COMPLETE"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_that_never_sends_connection_init_is_closed(
    api: Api, protocol: str
) -> None:
    view = next(route.app for route in api.app.routes if isinstance(route, WebSocketRoute))
    assert isinstance(view, GraphQLView)
    assert view.connection_init_wait_timeout == timedelta(seconds=2)
    async with connect(api.ws_url, token=None, protocol=protocol, init=False, read=False) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.ws.recv(), TIMEOUT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        4408,
        "Connection initialisation timeout",
    )


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_message_over_the_size_limit_closes_the_connection(
    api: Api, alice: str, protocol: str
) -> None:
    _, reply = await start_reply(api, alice, "Done")
    await final_message(api, alice, reply)
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        # Just under the limit, a message is served.
        padding = " " * (MAX_MESSAGE - 400)
        query = "subscription($id: ID!) {" + padding + "messageStream(messageId: $id) { done } }"
        results = await (await ws.subscribe(query, {"id": reply})).collect()
        assert results[-1] == {"messageStream": {"done": True}}
        with pytest.raises(ConnectionClosed) as closed:
            big = await ws.subscribe(query + " " * MAX_MESSAGE, {"id": reply})
            await big.next(TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


@dataclass
class RawPeer:
    """A websocket client written by hand, so it can leave the server's pings unanswered."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pings: int = 0

    async def send_text(self, text: str) -> None:
        self.writer.write(Frame(Opcode.TEXT, text.encode()).serialize(mask=True))
        await self.writer.drain()

    async def frame(self) -> tuple[int, bytes] | None:
        """(opcode, payload) of the server's next frame; None once the socket closed."""
        try:
            head = await self.reader.readexactly(2)
            length = head[1] & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", await self.reader.readexactly(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
            return head[0] & 0x0F, await self.reader.readexactly(length)
        except (asyncio.IncompleteReadError, ConnectionError):
            return None


@asynccontextmanager
async def raw_peer(api: Api, token: str) -> AsyncIterator[RawPeer]:
    """An acknowledged graphql-transport-ws connection without any websocket library."""
    port = int(api.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Protocol: {TRANSPORT_WS}\r\n\r\n"
        ).encode()
    )
    peer = RawPeer(reader, writer)
    try:
        response = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert response.startswith(b"HTTP/1.1 101"), response
        init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
        await peer.send_text(json.dumps(init))
        opcode, payload = await asyncio.wait_for(peer.frame(), TIMEOUT) or (0, b"")
        assert opcode == Opcode.TEXT and json.loads(payload)["type"] == "connection_ack"
        yield peer
    finally:
        writer.close()


async def test_a_peer_that_does_not_answer_pings_is_closed(api: Api, alice: str) -> None:
    async with raw_peer(api, alice) as peer:
        async with asyncio.timeout(TIMEOUT):
            while (frame := await peer.frame()) is not None:
                opcode, payload = frame
                if opcode == Opcode.PING:
                    peer.pings += 1
                if opcode == Opcode.CLOSE:
                    break
        assert frame is not None, "the server dropped the socket without a close frame"
        assert peer.pings >= 1
        (code,) = struct.unpack("!H", payload[:2])
        assert (code, payload[2:]) == (1011, b"keepalive ping timeout")
        async with asyncio.timeout(TIMEOUT):
            assert await peer.frame() is None  # and the socket is closed


async def test_a_peer_that_answers_pings_stays_connected(api: Api, alice: str) -> None:
    async with raw_peer(api, alice) as peer:
        async with asyncio.timeout(TIMEOUT):
            while peer.pings < 3:
                frame = await peer.frame()
                assert frame is not None and frame[0] != Opcode.CLOSE, frame
                if frame[0] == Opcode.PING:
                    peer.pings += 1
                    peer.writer.write(Frame(Opcode.PONG, frame[1]).serialize(mask=True))
                    await peer.writer.drain()
        await peer.send_text(json.dumps({"type": "ping"}))
        async with asyncio.timeout(TIMEOUT):
            while (frame := await peer.frame()) is not None and frame[0] != Opcode.TEXT:
                pass
        assert frame is not None and json.loads(frame[1]) == {"type": "pong"}

"""A GraphQL-over-websocket client for the tests, speaking both subprotocols.

`graphql-transport-ws` (the graphql-ws library's protocol): connection_init /
connection_ack, subscribe / next / error / complete, ping / pong. Legacy `graphql-ws`
(subscriptions-transport-ws): connection_init / connection_ack / connection_error,
start / data / error / complete / stop, keep-alive "ka". Both are mapped onto one small
interface: `connect()` gives a `Client`, `Client.subscribe()` an `Operation` whose
results are read with `next()` or `collect()`.

The messageStream helpers at the end are shared by the tests of live replies.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from typing import Any, Final
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from tests.harness import Api

TRANSPORT_WS: Final = "graphql-transport-ws"
LEGACY_WS: Final = "graphql-ws"
PROTOCOLS: Final = (TRANSPORT_WS, LEGACY_WS)

# Seconds any wait here allows: a bound for a broken server, never a measure, so generous
# enough that a heavily loaded machine does not reach it.
TIMEOUT: Final = 30.0


class ConnectionRefused(AssertionError):
    """The server refused connection_init: a close code, or a legacy connection_error."""

    def __init__(self, *, code: int | None, reason: str, payload: Any = None) -> None:
        super().__init__(f"connection refused: code={code} reason={reason!r} payload={payload!r}")
        self.code = code
        self.reason = reason
        self.payload = payload


class OperationFailed(AssertionError):
    """The operation answered with GraphQL errors (an `error` message, or errors in a result)."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def code(self) -> str:
        return str(self.errors[0].get("extensions", {}).get("code"))


class Operation:
    """One subscription on a connection."""

    def __init__(self, client: Client, operation_id: str) -> None:
        self.client = client
        self.id = operation_id
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.completed = False

    async def next(self, timeout: float = TIMEOUT) -> dict[str, Any] | None:
        """The data of the next result; None once the server completed the operation.
        Raises OperationFailed for errors and ConnectionClosed if the socket closes."""
        if self.completed:
            return None
        message = await asyncio.wait_for(self.messages.get(), timeout)
        kind = message.get("type")
        if kind == "closed":
            raise message["exception"]
        if kind == "complete":
            self.completed = True
            return None
        if kind == "error":
            self.completed = True
            # A list in graphql-transport-ws, one error object in graphql-ws.
            payload = message["payload"]
            errors: list[dict[str, Any]] = payload if isinstance(payload, list) else [payload]
            raise OperationFailed(errors)
        payload = message["payload"]
        if payload.get("errors"):
            raise OperationFailed(payload["errors"])
        data: dict[str, Any] = payload["data"]
        return data

    async def collect(self, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        """Every remaining result, until the server completes the operation."""
        results: list[dict[str, Any]] = []
        while (data := await self.next(timeout)) is not None:
            results.append(data)
        return results

    async def stop(self) -> None:
        """Unsubscribes (complete / stop); results already on their way are dropped."""
        self.completed = True
        self.client.operations.pop(self.id, None)
        kind = "complete" if self.client.protocol == TRANSPORT_WS else "stop"
        await self.client.send({"id": self.id, "type": kind})


class Client:
    """One authenticated websocket connection to /graphql."""

    def __init__(self, ws: ClientConnection, protocol: str) -> None:
        self.ws = ws
        self.protocol = protocol
        self.operations: dict[str, Operation] = {}
        self.keep_alives = 0
        self.pongs = 0
        self._ids = itertools.count(1)
        self._reader: asyncio.Task[None] | None = None

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next protocol message (only before the reader runs, or when it does not)."""
        raw = await asyncio.wait_for(self.ws.recv(), timeout)
        message: dict[str, Any] = json.loads(raw)
        return message

    async def init(self, token: str | None, payload: Mapping[str, Any] | None = None) -> None:
        """Sends connection_init and waits for the ack; ConnectionRefused if refused."""
        if payload is None:
            payload = {"Authorization": f"Bearer {token}"} if token is not None else {}
        await self.send({"type": "connection_init", "payload": dict(payload)})
        try:
            while True:
                message = await self.receive()
                kind = message.get("type")
                if kind == "connection_ack":
                    return
                if kind == "connection_error":
                    raise ConnectionRefused(code=None, reason="", payload=message.get("payload"))
                if kind == "ping":
                    await self.send({"type": "pong"})
                elif kind != "ka":
                    raise AssertionError(f"unexpected message before the ack: {message}")
        except ConnectionClosed as exc:
            received = exc.rcvd
            raise ConnectionRefused(
                code=received.code if received else None,
                reason=received.reason if received else "",
            ) from exc

    @property
    def reading(self) -> bool:
        return self._reader is not None

    def start_reading(self) -> None:
        self._reader = asyncio.create_task(self._read(), name="ws-test-reader")

    async def subscribe(self, query: str, variables: Mapping[str, Any] | None = None) -> Operation:
        operation = Operation(self, str(next(self._ids)))
        self.operations[operation.id] = operation
        kind = "subscribe" if self.protocol == TRANSPORT_WS else "start"
        payload = {"query": query, "variables": dict(variables or {})}
        await self.send({"id": operation.id, "type": kind, "payload": payload})
        return operation

    async def ping(self) -> None:
        """graphql-transport-ws only: the server must answer with a pong."""
        await self.send({"type": "ping"})

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        await self.ws.close()

    def abort(self) -> None:
        """Drops the TCP connection without a closing handshake."""
        if self._reader is not None:
            self._reader.cancel()
        self.ws.transport.abort()

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                message: dict[str, Any] = json.loads(raw)
                kind = message.get("type")
                if kind == "ping":
                    await self.send({"type": "pong"})
                elif kind == "pong":
                    self.pongs += 1
                elif kind == "ka":
                    self.keep_alives += 1
                elif (operation := self.operations.get(str(message.get("id")))) is not None:
                    operation.messages.put_nowait(message)
                    if kind in ("complete", "error"):
                        self.operations.pop(operation.id, None)
        except ConnectionClosed as exc:
            closed = exc
        else:
            protocol = self.ws.protocol
            closed = ConnectionClosed(protocol.close_rcvd, protocol.close_sent)
        for operation in self.operations.values():
            operation.messages.put_nowait({"type": "closed", "exception": closed})


async def open_socket(url: str, receive_buffer: int | None) -> socket.socket:
    """A connected TCP socket; a small `receive_buffer` makes a reader that stalls
    push back on the server sooner."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    try:
        await asyncio.get_running_loop().sock_connect(sock, (parts.hostname, parts.port))
    except BaseException:
        sock.close()
        raise
    return sock


@asynccontextmanager
async def connect(
    url: str,
    *,
    token: str | None,
    protocol: str = TRANSPORT_WS,
    init_payload: Mapping[str, Any] | None = None,
    init: bool = True,
    read: bool = True,
    receive_buffer: int | None = None,
) -> AsyncIterator[Client]:
    """An acknowledged connection (init=False: one that has not sent connection_init).
    With read=False nothing reads the socket after the ack until `start_reading()`:
    a stalled client, whose library stops reading once one frame is buffered."""
    sock = await open_socket(url, receive_buffer)
    ws = await ws_connect(
        url,
        sock=sock,
        subprotocols=[Subprotocol(protocol)],
        proxy=None,
        compression=None,
        max_queue=None if read else 1,
        open_timeout=TIMEOUT,
        close_timeout=2,
    )
    client = Client(ws, protocol)
    try:
        assert ws.subprotocol == protocol, f"the server chose {ws.subprotocol!r}"
        if init:
            await client.init(token, init_payload)
        if read:
            client.start_reading()
        yield client
    finally:
        if client.reading:
            await client.close()
        else:
            client.abort()


async def refusal(
    url: str, *, protocol: str, token: str | None, init_payload: Mapping[str, Any] | None = None
) -> ConnectionRefused:
    """How the server refuses a connection_init that must be refused."""
    sock = await open_socket(url, None)
    ws = await ws_connect(
        url, sock=sock, subprotocols=[Subprotocol(protocol)], proxy=None, close_timeout=2
    )
    client = Client(ws, protocol)
    try:
        await client.init(token, init_payload)
    except ConnectionRefused as refused:
        return refused
    finally:
        await ws.close()
    raise AssertionError("the server acknowledged a connection it had to refuse")


# The messageStream subscription, shared by the tests of live replies.

STREAM: Final = """
subscription($id: ID!) {
  messageStream(messageId: $id) { messageId delta reasoningDelta status done error }
}
"""


async def subscribe_stream(client: Client, message_id: str) -> Operation:
    return await client.subscribe(STREAM, {"id": message_id})


async def stream_events(operation: Operation, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """The MessageEvents of a messageStream operation, until it completes."""
    return [data["messageStream"] for data in await operation.collect(timeout)]


async def next_event(operation: Operation, timeout: float = TIMEOUT) -> dict[str, Any]:
    data = await operation.next(timeout)
    assert data is not None, "the stream completed early"
    event: dict[str, Any] = data["messageStream"]
    return event


def content_of(events: list[dict[str, Any]]) -> str:
    return "".join(event["delta"] for event in events)


def reasoning_of(events: list[dict[str, Any]]) -> str:
    return "".join(event["reasoningDelta"] for event in events)


def assert_well_formed(events: list[dict[str, Any]], status: str) -> None:
    """Only the last event is done, and it carries the final status."""
    assert events, "no event at all"
    assert [event["done"] for event in events] == [False] * (len(events) - 1) + [True]
    assert events[-1]["status"] == status
    assert all(event["status"] == "STREAMING" for event in events[:-1])


# Starting replies and reading their rows over HTTP.

CREATE: Final = """
mutation($c: String!) {
  createConversation(content: $c) {
    conversation { id }
    userMessage { id }
    assistantMessage { id status }
  }
}
"""

MESSAGE: Final = """
query($id: ID!) { message(id: $id) { id role content reasoning status error } }
"""


async def start_reply(api: Api, token: str, content: str) -> tuple[str, str]:
    """Starts a conversation without waiting: (user message id, assistant message id)."""
    data = await api.ok(CREATE, {"c": content}, token=token)
    payload = data["createConversation"]
    return payload["userMessage"]["id"], payload["assistantMessage"]["id"]


async def message(api: Api, token: str, message_id: str) -> dict[str, Any]:
    data = await api.ok(MESSAGE, {"id": message_id}, token=token)
    row: dict[str, Any] = data["message"]
    assert row is not None, f"message {message_id} is gone"
    return row


async def final_message(api: Api, token: str, message_id: str) -> dict[str, Any]:
    """The message once it is no longer STREAMING."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            row = await message(api, token, message_id)
            if row["status"] != "STREAMING":
                return row
            await asyncio.sleep(0.02)


def published(api: Api, message_id: str) -> int:
    """Characters (content and reasoning) of a reply that the server has published so
    far; 0 once it is final."""
    reply = api.services.generations.replies.get(int(message_id))
    return len(reply.content) + len(reply.reasoning) if reply is not None else 0


async def until(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    """Polls `condition` until it holds (bounded)."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)

"""Followers of one reply over graphql-transport-ws: after its first result, an
operation is written the results other operations computed as frames of its own
(api/outlets.py), and those are the frames strawberry would have sent."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
from graphql import ExecutionResult, GraphQLError, OperationDefinitionNode, parse
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    Operation as StrawberryOperation,
)

from chattree.api.outlets import Outlet
from chattree.api.shared_events import SharedResults
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api
from tests.ws import (
    LEGACY_WS,
    STREAM,
    TIMEOUT,
    Client,
    Operation,
    connect,
    content_of,
    final_message,
    next_event,
    start_reply,
    subscribe_stream,
)

PIECES = ["one ", "two ", "three ", "four ", "five"]


@pytest.fixture
def strawberry_frames(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The operation id of every `next` frame strawberry itself sent, in order."""
    sent: list[str] = []
    send_next = StrawberryOperation.send_next

    async def counting(self: StrawberryOperation, result: Any) -> None:
        sent.append(self.id)
        await send_next(self, result)

    monkeypatch.setattr(StrawberryOperation, "send_next", counting)
    return sent


async def stepped_reply(api: Api, token: str, fake_model: FakeModelServer) -> tuple[str, Gate]:
    gate = Gate()
    # Word-like tokens: one chunk per piece.
    fake_model.replies["Step by step"] = Reply(content="".join(PIECES), gate=gate)
    _, reply_id = await start_reply(api, token, "Step by step")
    return reply_id, gate


async def follow_in_step(gate: Gate, operations: list[Operation]) -> list[list[dict[str, Any]]]:
    """Every operation's events, letting one chunk through only once every operation
    has the event before it: each event then reaches all of them as the same event."""
    streams = [[await next_event(operation)] for operation in operations]
    while not streams[0][-1]["done"]:
        gate.release()
        for events, operation in zip(streams, operations, strict=True):
            events.append(await next_event(operation))
    for operation in operations:
        assert await operation.next() is None, "no completion after the last event"
    return streams


async def test_one_operation_executes_each_event_and_the_others_get_its_frame(
    api: Api, alice: str, fake_model: FakeModelServer, strawberry_frames: list[str]
) -> None:
    reply_id, gate = await stepped_reply(api, alice, fake_model)
    async with AsyncExitStack() as stack:
        # Three operations on one connection (ids 1, 2, 3) and one on another (id 1).
        shared = await stack.enter_async_context(connect(api.ws_url, token=alice))
        other = await stack.enter_async_context(connect(api.ws_url, token=alice))
        operations = [await subscribe_stream(shared, reply_id) for _ in range(3)]
        operations.append(await subscribe_stream(other, reply_id))
        streams = await follow_in_step(gate, operations)
    stored = await final_message(api, alice, reply_id)
    assert stored["content"] == "".join(PIECES)
    for events in streams:
        assert events == streams[0]
        assert content_of(events) == stored["content"]
    later = len(streams[0]) - 1
    assert later >= len(PIECES), streams[0]
    # Each operation's first result, then one operation per later event; every other
    # frame was written without strawberry.
    assert len(strawberry_frames) == len(operations) + later


class Frames:
    """A graphql-transport-ws connection read frame by frame, as the text it carries."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.texts: list[str] = []
        self.early: list[dict[str, Any]] = []

    async def next_of(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        """The next message of each operation in `ids`; no other operation may get one.
        A message that comes before another operation's is kept for the next call."""
        got: dict[str, dict[str, Any]] = {}
        early, self.early = self.early, []
        while len(got) < len(ids):
            message = early.pop(0) if early else await self._receive()
            if message is None:
                continue
            assert message.get("id") in ids, f"a message for another operation: {message}"
            if message["id"] in got:
                self.early.append(message)
            else:
                got[message["id"]] = message
        self.early.extend(early)
        return got

    async def _receive(self) -> dict[str, Any] | None:
        text = await asyncio.wait_for(self.client.ws.recv(), TIMEOUT)
        assert isinstance(text, str), "a binary frame"
        message: dict[str, Any] = json.loads(text)
        if message["type"] == "ping":
            await self.client.send({"type": "pong"})
            return None
        self.texts.append(text)
        return message

    async def settled(self) -> None:
        """Returns once the server has handled every message sent before: it answers a
        ping only after them."""
        await self.client.ping()
        while (message := json.loads(await asyncio.wait_for(self.client.ws.recv(), TIMEOUT)))[
            "type"
        ] != "pong":
            assert message["type"] == "ping", f"a message after the last event: {message}"
            await self.client.send({"type": "pong"})


async def in_step(frames: Frames, gate: Gate, ids: set[str]) -> dict[str, list[dict[str, Any]]]:
    """Each operation's messages until it completes, one chunk let through at a time,
    once each has had the event before."""
    messages: dict[str, list[dict[str, Any]]] = {operation_id: [] for operation_id in ids}
    running = set(ids)
    while running:
        gate.release()
        for operation_id, message in (await frames.next_of(running)).items():
            messages[operation_id].append(message)
            if message["type"] == "next" and message["payload"]["data"]["messageStream"]["done"]:
                running.discard(operation_id)
    for message in (await frames.next_of(ids)).values():
        assert message["type"] == "complete", message
    return messages


@asynccontextmanager
async def three_followers(
    api: Api, token: str, fake_model: FakeModelServer
) -> AsyncIterator[tuple[Frames, Gate, str]]:
    """Operations 1, 2 and 3 on one connection follow a stepped reply (its id)."""
    reply_id, gate = await stepped_reply(api, token, fake_model)
    async with connect(api.ws_url, token=token, read=False) as client:
        for _ in range(3):
            await subscribe_stream(client, reply_id)
        yield Frames(client), gate, reply_id


async def test_frames_written_directly_are_strawberrys_frames(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    """Compared as text: each operation's frames differ from another's in the id only."""
    async with three_followers(api, alice, fake_model) as (frames, gate, _):
        await frames.next_of({"1", "2", "3"})
        await in_step(frames, gate, {"1", "2", "3"})
    by_id: dict[str, list[str]] = {}
    for text in frames.texts:
        operation_id = json.loads(text)["id"]
        prefix = '{"id":"' + operation_id + '",'
        assert text.startswith(prefix), text
        by_id.setdefault(operation_id, []).append(text.removeprefix(prefix))
    assert len(by_id["1"]) > len(PIECES)  # the first event, one per chunk, the last
    assert by_id["1"] == by_id["2"] == by_id["3"]


async def test_an_operation_its_client_completed_is_written_nothing_more(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    async with three_followers(api, alice, fake_model) as (frames, gate, reply_id):
        before = [await frames.next_of({"1", "2", "3"})]
        gate.release()
        before.append(await frames.next_of({"1", "2", "3"}))
        await frames.client.send({"id": "2", "type": "complete"})
        await frames.settled()
        # From here on, a frame for operation 2 fails `next_of`.
        after = await in_step(frames, gate, {"1", "3"})
    assert [m["payload"] for m in after["1"]] == [m["payload"] for m in after["3"]]
    events = [got["1"]["payload"]["data"]["messageStream"] for got in before]
    events += [m["payload"]["data"]["messageStream"] for m in after["1"]]
    assert events[-1]["done"] is True
    stored = await final_message(api, alice, reply_id)
    assert content_of(events) == stored["content"]


async def test_other_transports_send_every_result_through_strawberry(
    api: Api, alice: str, fake_model: FakeModelServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def refused(self: Outlet, payload: str) -> bool:
        raise AssertionError("an outlet outside graphql-transport-ws")

    monkeypatch.setattr(Outlet, "send", refused)
    reply_id, gate = await stepped_reply(api, alice, fake_model)
    async with AsyncExitStack() as stack:
        legacy = await stack.enter_async_context(
            connect(api.ws_url, token=alice, protocol=LEGACY_WS)
        )
        operations = [await subscribe_stream(legacy, reply_id) for _ in range(2)]
        streams = await follow_in_step(gate, operations)
    stored = await final_message(api, alice, reply_id)
    assert [content_of(events) for events in streams] == [stored["content"]] * 2


def test_a_result_with_errors_is_never_shared_as_text() -> None:
    operation = parse(STREAM).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    shared = SharedResults()
    failed = ExecutionResult(data=None, errors=[GraphQLError("boom")])
    shared.keep(operation, {"id": "7"}, failed)
    assert shared.payload(operation, {"id": "7"}) is None
    fine = ExecutionResult(data={"messageStream": {"delta": "é\u2028"}})
    shared.keep(operation, {"id": "8"}, fine)
    payload = shared.payload(operation, {"id": "8"})
    assert payload == '{"data":{"messageStream":{"delta":"é\u2028"}}}'
    assert shared.payload(operation, {"id": "8"}) is payload  # encoded once
    assert shared.payload(operation, {"id": "9"}) is None

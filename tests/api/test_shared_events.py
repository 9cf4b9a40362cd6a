"""Followers of one reply that send the same subscription share each event's execution
(api/shared_events.py), and still each get exactly what they asked for."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import Any

import pytest
import strawberry
from graphql import DocumentNode, ExecutionResult, parse
from strawberry import ID
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from chattree.api import shared_events
from chattree.api.schema import schema
from chattree.api.shared_events import SharingExecutionContext, plain_fields
from chattree.api.subscriptions import message_event
from chattree.api.types import MessageEvent
from chattree.broker import Event
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api
from tests.ws import (
    STREAM,
    connect,
    content_of,
    final_message,
    next_event,
    start_reply,
    stream_events,
    subscribe_stream,
)

DELTAS = "subscription($id: ID!) { messageStream(messageId: $id) { delta done } }"


@pytest.fixture
def executions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The selection of every execution of a live event, in order."""
    seen: list[str] = []
    execute = StrawberryGraphQLCoreExecutionContext.execute_operation

    def counting(self: StrawberryGraphQLCoreExecutionContext, serially: bool | None = None) -> Any:
        if isinstance(self.root_value, MessageEvent):
            seen.append(self.operation.loc.source.body if self.operation.loc else "")
        return execute(self, serially)

    monkeypatch.setattr(StrawberryGraphQLCoreExecutionContext, "execute_operation", counting)
    return seen


def executor_of(document: DocumentNode, **variables: Any) -> SharingExecutionContext:
    executor = SharingExecutionContext.build(
        schema._schema, document, raw_variable_values=variables
    )
    assert isinstance(executor, SharingExecutionContext), executor
    return executor


def run(document: str, event: MessageEvent, **variables: Any) -> ExecutionResult:
    result = executor_of(parse(document), **variables).build_per_event_executor(event)
    executed = result.execute_operation()
    assert isinstance(executed, ExecutionResult)
    return executed


def test_one_event_is_executed_once_per_document_and_variables(executions: list[str]) -> None:
    document = parse(STREAM)
    event = message_event(Event(7, 1, "hi"), ID("7"))
    executor = executor_of(document, id="7")
    first = executor.build_per_event_executor(event).execute_operation()
    again = executor.build_per_event_executor(event).execute_operation()
    assert first is again
    assert len(executions) == 1
    # Another document, or the same one with other variables, executes on its own.
    other = run(DELTAS, event, id="7")
    assert other.data == {"messageStream": {"delta": "hi", "done": False}}
    spelled = run(STREAM, event, id="07")
    assert spelled is not first
    assert len(executions) == 3


def test_followers_of_one_event_get_one_object_and_other_events_another() -> None:
    event = Event(7, 1, "hi")
    shared = message_event(event, ID("7"))
    assert message_event(event, ID("7")) is shared
    assert message_event(Event(7, 1, "hi"), ID("7")) is shared  # an equal event: the same text
    assert message_event(Event(7, 2, "hi"), ID("7")) is not shared
    # The event echoes the id as the subscriber spelled it.
    assert message_event(event, ID("07")).message_id == "07"


def test_a_type_with_a_resolver_cannot_be_shared() -> None:
    @strawberry.type
    class Personal:
        text: str

        @strawberry.field
        def caller(self, info: strawberry.Info) -> str:
            return str(info.context)

    with pytest.raises(TypeError, match=r"resolves \['caller'\]"):
        plain_fields(Personal)
    assert plain_fields(MessageEvent) is MessageEvent


async def test_followers_with_the_same_subscription_share_its_executions(
    api: Api, alice: str, fake_model: FakeModelServer, executions: list[str]
) -> None:
    text = "".join(f"piece {i}. " for i in range(40))
    gate = Gate()
    fake_model.replies["Share it"] = Reply(content=text, delay=0.01, chunk_size=10, gate=gate)
    _, reply_id = await start_reply(api, alice, "Share it")
    async with AsyncExitStack() as stack:
        same = []
        for _ in range(3):
            ws = await stack.enter_async_context(connect(api.ws_url, token=alice))
            same.append(await subscribe_stream(ws, reply_id))
        ws = await stack.enter_async_context(connect(api.ws_url, token=alice))
        deltas_only = await ws.subscribe(DELTAS, {"id": reply_id})
        firsts = [await next_event(operation) for operation in [*same, deltas_only]]
        gate.open()
        streams = [
            [first, *await stream_events(operation)]
            for first, operation in zip(firsts, [*same, deltas_only], strict=True)
        ]
    stored = await final_message(api, alice, reply_id)
    for events in streams:
        assert content_of(events) == stored["content"] == text
    # Each follower got the fields its own document asked for.
    assert all(
        set(event) == {"messageId", "delta", "reasoningDelta", "status", "done", "error"}
        for events in streams[:3]
        for event in events
    )
    assert all(set(event) == {"delta", "done"} for event in streams[3])
    delivered = sum(len(events) for events in streams[:3])
    executed = sum(1 for selection in executions if selection == STREAM)
    assert executed < delivered, "every follower executed every event on its own"


def test_a_subscription_collects_its_selection_once_for_all_its_events(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its memory stays the same however many events it has had."""
    collected: list[str] = []
    collect = shared_events.collect_subfields

    def counting(*args: Any) -> Any:
        collected.append(args[4].name)  # the return type
        return collect(*args)

    monkeypatch.setattr(shared_events, "collect_subfields", counting)
    document = parse(
        """
        subscription($id: ID!, $more: Boolean!) {
          stream: messageStream(messageId: $id) {
            ... on MessageEvent { delta }
            ...Ending
            text: delta @include(if: $more)
            status @skip(if: $more)
          }
        }
        fragment Ending on MessageEvent { done error }
        """
    )
    executor = executor_of(document, id="7", more=True)
    results = [
        executor.build_per_event_executor(message_event(Event(7, seq, str(seq)), ID("7")))
        .execute_operation()
        .data
        for seq in range(1, 51)
    ]
    assert results[-1] == {"stream": {"delta": "50", "done": False, "error": None, "text": "50"}}
    assert [result["stream"]["text"] for result in results] == [str(n) for n in range(1, 51)]
    assert collected == ["MessageEvent"]
    # graphql-core's own memo, keyed per event, is left empty.
    assert not getattr(executor, "_relevant_sub_fields", {})

"""Subscription: live tokens of one message."""

from __future__ import annotations

import weakref
from collections.abc import AsyncGenerator

import strawberry

from chattree.api.context import Info
from chattree.api.enums import MessageStatus
from chattree.api.ids import require_id
from chattree.api.outlets import OUTLET
from chattree.api.shared_events import SharedResults
from chattree.api.types import MessageEvent
from chattree.broker import Event
from chattree.services.generation import follow


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Live tokens of one message; ends after the event with done: true (at once if the "
            "message is already final)."
        )
    )
    async def message_stream(
        self, info: Info, message_id: strawberry.ID
    ) -> AsyncGenerator[MessageEvent, None]:
        caller = await info.context.user()
        services = info.context.services
        row_id = require_id(message_id, what="message")
        checked = await services.conversations.message(user_id=caller.id, message_id=row_id)
        outlet = OUTLET.get()
        operation, variables = info.operation, info.variable_values
        first = True
        async for event in follow(services.generations, row_id, checked=checked):
            shared = message_event(event, message_id)
            if outlet is not None and not first:
                # Another operation has executed this event as this one would: its
                # result goes out as text (api/outlets.py).
                assert shared.shared_results is not None
                payload = shared.shared_results.payload(operation, variables)
                if payload is not None:
                    if not await outlet.send(payload):
                        return
                    continue
            first = False
            yield shared


# The MessageEvent each broker event became, per id as the subscriber spelled it (the
# event echoes it): every follower of a message gets the same object, and with it the
# results already computed for it (api/shared_events.py). An entry lives as long as
# its event.
_events: weakref.WeakKeyDictionary[Event, dict[str, MessageEvent]] = weakref.WeakKeyDictionary()


def message_event(event: Event, message_id: strawberry.ID) -> MessageEvent:
    """The event as the subscription yields it: one object for every subscriber."""
    spellings = _events.get(event)
    if spellings is None:
        spellings = _events[event] = {}
    found = spellings.get(message_id)
    if found is None:
        found = spellings[message_id] = MessageEvent(
            message_id=message_id,
            delta=event.delta,
            reasoning_delta=event.reasoning_delta,
            status=MessageStatus(event.status),
            done=event.done,
            error=event.error,
            shared_results=SharedResults(),
        )
    return found

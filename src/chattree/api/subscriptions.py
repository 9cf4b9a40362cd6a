"""Subscription: live tokens of one message."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from chattree.api.context import Info
from chattree.api.enums import MessageStatus
from chattree.api.ids import require_id
from chattree.api.types import MessageEvent
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
        await services.conversations.message(user_id=caller.id, message_id=row_id)
        async for event in follow(services.generations, row_id):
            yield MessageEvent(
                message_id=message_id,
                delta=event.delta,
                reasoning_delta=event.reasoning_delta,
                status=MessageStatus(event.status),
                done=event.done,
                error=event.error,
            )

"""GraphQL side of conversation events: the event type and the conversationEvents
subscription."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from enum import Enum

import strawberry

from chattree.api.context import Info
from chattree.api.types import Conversation, Message
from chattree.db.models import EventKind, EventRow
from chattree.services.events import decode_event_cursor, encode_event_cursor, follow_events


@strawberry.enum
class ConversationEventKind(Enum):
    CONVERSATION_CREATED = "CONVERSATION_CREATED"
    CONVERSATION_UPDATED = strawberry.enum_value(
        "CONVERSATION_UPDATED",
        description="Title, archived, pinned, settings or currentMessageId changed.",
    )
    CONVERSATION_DELETED = "CONVERSATION_DELETED"
    MESSAGE_CREATED = strawberry.enum_value(
        "MESSAGE_CREATED",
        description=(
            "A message was stored: a user message, an assistant reply as it starts, an "
            "imported or forked tree's messages are NOT sent one by one (one "
            "CONVERSATION_CREATED instead)."
        ),
    )
    MESSAGE_UPDATED = strawberry.enum_value(
        "MESSAGE_UPDATED",
        description=(
            "A message reached a final status (COMPLETE, FAILED, CANCELLED, INTERRUPTED), "
            "or was rated, or started streaming again."
        ),
    )
    MESSAGE_DELETED = strawberry.enum_value(
        "MESSAGE_DELETED",
        description="A message and its subtree were deleted; messageId is the top of that subtree.",
    )


MESSAGE_KINDS = frozenset({EventKind.MESSAGE_CREATED.value, EventKind.MESSAGE_UPDATED.value})


@strawberry.type
class ConversationEvent:
    cursor: str = strawberry.field(
        description=(
            "Opaque and increasing; pass the last one seen as `after` to resume without a gap."
        )
    )
    kind: ConversationEventKind
    conversation_id: strawberry.ID
    message_id: strawberry.ID | None = strawberry.field(description="Set for the MESSAGE_* kinds.")
    at: datetime
    row_conversation: strawberry.Private[int]
    row_message: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: EventRow) -> ConversationEvent:
        # The message of a MESSAGE_CREATED/UPDATED event; none for the other kinds.
        message = row.message_id if row.kind in MESSAGE_KINDS else None
        return cls(
            cursor=encode_event_cursor(row.id),
            kind=ConversationEventKind(row.kind),
            conversation_id=strawberry.ID(str(row.conversation_id)),
            message_id=strawberry.ID(str(row.message_id)) if row.message_id else None,
            at=row.created_at,
            row_conversation=row.conversation_id,
            row_message=message,
        )

    @strawberry.field(
        description="The conversation as it is when the event is delivered; null once deleted."
    )
    async def conversation(self, info: Info) -> Conversation | None:
        row = await info.context.loaders.conversation.load(self.row_conversation)
        return Conversation.from_row(row) if row is not None else None

    @strawberry.field(
        description=(
            "The message as it is when the event is delivered; null for MESSAGE_DELETED and "
            "the CONVERSATION_* kinds."
        )
    )
    async def message(self, info: Info) -> Message | None:
        if self.row_message is None:
            return None
        row = await info.context.loaders.message.load(self.row_message)
        return Message.from_row(row) if row is not None else None


@strawberry.type
class EventSubscription:
    @strawberry.subscription(
        description=(
            "Every change to the caller's conversations, made on any process or replica, in "
            "order. With `after` (a cursor from an earlier event): first every event after "
            "it, then live ones, with no gap and no duplicate; a cursor older than the "
            "retention window, or not the caller's, is BAD_USER_INPUT so the client knows to "
            "reload."
        )
    )
    async def conversation_events(
        self, info: Info, after: str | None = None
    ) -> AsyncGenerator[ConversationEvent, None]:
        caller = await info.context.user()
        services = info.context.services
        start = None if after is None else decode_event_cursor(after)
        async for row in follow_events(
            services.db, services.broker, user_id=caller.id, after=start
        ):
            # Each event is resolved as it is now: loaders must not serve rows they read
            # for an earlier event of this long-lived operation.
            info.context.refresh_loaders()
            yield ConversationEvent.from_row(row)

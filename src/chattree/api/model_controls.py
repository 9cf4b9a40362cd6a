"""Mutations of model controls: continuing a reply, a conversation's generation
settings, and ratings."""

from __future__ import annotations

import strawberry

from chattree.api.context import Info
from chattree.api.ids import require_id
from chattree.api.types import Conversation, GenerationSettingsInput, Message


@strawberry.type
class ControlMutations:
    @strawberry.mutation(
        description=(
            "Continues an assistant reply that ended CANCELLED, FAILED or INTERRUPTED, or "
            'COMPLETE with finishReason "length": the model is sent the branch with the '
            "partial reply as the last assistant turn, and what it writes is appended to the "
            "same message, which is STREAMING again (messageStream then works as for a new "
            "reply: its first event carries the whole text so far). `model`: another model "
            "the server offers writes the rest (Message.model then names it). Any other "
            "message: BAD_USER_INPUT."
        )
    )
    async def continue_generation(
        self,
        info: Info,
        message_id: strawberry.ID,
        model: str | None = None,
        wait: bool | None = False,
    ) -> Message:
        caller = await info.context.user()
        row = await info.context.services.controls.continue_reply(
            user_id=caller.id,
            message_id=require_id(message_id, what="message"),
            model=model,
            wait=bool(wait),
        )
        return Message.from_row(row)

    @strawberry.mutation(
        description=(
            "Sets the conversation's generation settings; fields left out keep their value, "
            "an explicit null resets one to the default. They are sent upstream with every "
            "reply and title of the conversation."
        )
    )
    async def update_conversation_settings(
        self, info: Info, id: strawberry.ID, settings: GenerationSettingsInput
    ) -> Conversation:
        caller = await info.context.user()
        row = await info.context.services.controls.update_settings(
            user_id=caller.id,
            conversation_id=require_id(id, what="conversation"),
            change=settings.change(),
        )
        return Conversation.from_row(row)

    @strawberry.mutation(
        description=(
            "Rates a reply (rating 1, -1, or null to clear) with optional feedback text (null "
            "or empty clears it). An argument left out keeps its value. Replies only: a user "
            "or system message is BAD_USER_INPUT."
        )
    )
    async def rate_message(
        self,
        info: Info,
        message_id: strawberry.ID,
        rating: int | None = strawberry.UNSET,
        feedback: str | None = strawberry.UNSET,
    ) -> Message:
        caller = await info.context.user()
        given = {"rating": rating, "feedback": feedback}
        row = await info.context.services.controls.rate(
            user_id=caller.id,
            message_id=require_id(message_id, what="message"),
            rating=None if rating is strawberry.UNSET else rating,
            feedback=None if feedback is strawberry.UNSET else feedback,
            keep={name for name, value in given.items() if value is strawberry.UNSET},
        )
        return Message.from_row(row)

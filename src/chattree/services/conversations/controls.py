"""Model controls on rows the caller owns: a conversation's generation settings, the
rating of a reply, and continuing an ended reply. Each state change is one unit of work
in one method of `ModelControls`; the functions below do the checks and the writes on
that unit of work."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db import counters
from chattree.db.engine import Database
from chattree.db.events import record_event
from chattree.db.models import Conversation, EventKind, Message, Role, Status
from chattree.db.types import utcnow
from chattree.errors import InvalidInput
from chattree.services.conversations.owned import (
    owned_conversation,
    owned_message,
    read_message,
)
from chattree.services.generation import GenerationManager, Snapshot, rows
from chattree.services.generation.settings import Change, check_change
from chattree.services.limits import GenerationLimits
from chattree.services.text import check_text

MAX_FEEDBACK = 4000
# Replies that stopped before the model was done with them.
ENDED_EARLY = (Status.CANCELLED, Status.FAILED, Status.INTERRUPTED)


class ModelControls:
    def __init__(
        self,
        *,
        db: Database,
        generations: GenerationManager,
        limits: GenerationLimits,
        resolve_override: Callable[[str | None], Awaitable[str | None]],
    ) -> None:
        self.db = db
        self.generations = generations
        self.windows = generations.windows
        self.limits = limits
        self.resolve_override = resolve_override

    async def continue_reply(
        self, *, user_id: int, message_id: int, model: str | None, wait: bool
    ) -> Message:
        """Generates more of a reply that stopped early, appended to its row."""
        override = await self.resolve_override(model)
        async with self.db.transaction() as session:
            await self.limits.admit(session, user_id=user_id)
            message = await owned_message(session, message_id, user_id)
            conversation = await session.get_one(Conversation, message.conversation_id)
            model = override or message.model or conversation.model
            resume = await reopen(session, self.db, message, conversation, model)
            assert message.parent_id is not None  # a reply is never the root
            await record_event(
                session, user_id, EventKind.MESSAGE_UPDATED, conversation.id, message_id
            )
            await record_event(session, user_id, EventKind.CONVERSATION_UPDATED, conversation.id)
        self.generations.begin(
            message_id=message_id, parent_id=message.parent_id, model=model, resume=resume
        )
        if wait:
            await self.generations.wait(message_id)
        return await read_message(self.db, message_id)

    async def update_settings(
        self, *, user_id: int, conversation_id: int, change: Change
    ) -> Conversation:
        columns = check_change(change)
        async with self.db.reader() as session:
            model = (await owned_conversation(session, conversation_id, user_id)).model
        await self.windows.prime(model)
        async with self.db.transaction() as session:
            await counters.lock_user(session, user_id=user_id)
            conversation = await owned_conversation(session, conversation_id, user_id)
            set_settings(conversation, columns)
            self.windows.check(conversation)
            await record_event(session, user_id, EventKind.CONVERSATION_UPDATED, conversation.id)
        return conversation

    async def rate(
        self,
        *,
        user_id: int,
        message_id: int,
        rating: int | None,
        feedback: str | None,
        keep: set[str],
    ) -> Message:
        feedback = check_rating(rating, feedback)
        async with self.db.transaction() as session:
            await counters.lock_user(session, user_id=user_id)
            message = await owned_message(session, message_id, user_id)
            rate(message, rating=rating, feedback=feedback, keep=keep)
            await record_event(
                session, user_id, EventKind.MESSAGE_UPDATED, message.conversation_id, message.id
            )
        return message


def set_settings(conversation: Conversation, columns: dict[str, float | int | None]) -> None:
    """Applies checked settings (`settings.check_change`); None resets one."""
    for column, value in columns.items():
        setattr(conversation, column, value)


def check_rating(rating: int | None, feedback: str | None) -> str | None:
    """The feedback to store ("" clears it), or BAD_USER_INPUT."""
    if rating is not None and rating not in (1, -1):
        raise InvalidInput("rating must be 1, -1 or null", argument="rating")
    if feedback is None:
        return None
    check_text(feedback, argument="feedback", max_length=MAX_FEEDBACK, allow_empty=True)
    return feedback.strip() or None


def rate(message: Message, *, rating: int | None, feedback: str | None, keep: set[str]) -> None:
    """Rates a reply; the names in `keep` ("rating", "feedback") were not given and keep
    their value."""
    if message.role is not Role.ASSISTANT:
        raise InvalidInput(
            f"message {message.id} is a {message.role.value.lower()} message; "
            "only replies can be rated",
            argument="messageId",
        )
    if "rating" not in keep:
        message.rating = rating
    if "feedback" not in keep:
        message.feedback = feedback


def check_continuable(message: Message) -> None:
    if message.role is not Role.ASSISTANT:
        raise InvalidInput("only a reply can be continued", argument="messageId")
    if message.status in ENDED_EARLY:
        return
    if message.status is Status.COMPLETE and message.finish_reason == "length":
        return
    ended = message.status.value
    if message.status is Status.COMPLETE:
        ended += f" (finishReason {message.finish_reason or 'not reported'})"
    raise InvalidInput(
        f"message {message.id} is {ended}; only a reply that ended CANCELLED, FAILED or "
        'INTERRUPTED, or COMPLETE with finishReason "length", can be continued',
        argument="messageId",
    )


async def reopen(
    session: AsyncSession, db: Database, message: Message, conversation: Conversation, model: str
) -> Snapshot:
    """Makes an ended reply STREAMING again, by `model`, and the current message; returns
    what the row holds, to continue from. The update is conditional on the row being as
    it was read, so two continues of one reply cannot both start."""
    check_continuable(message)
    reopened = await session.scalar(
        update(Message)
        .where(
            Message.id == message.id,
            Message.status == message.status,
            Message.seq == message.seq,
        )
        .values(
            status=Status.STREAMING,
            error=None,
            finish_reason=None,
            model=model,
            heartbeat_at=rows.now(db),
        )
        .returning(Message.id)
        .execution_options(synchronize_session=False)
    )
    if reopened is None:
        raise InvalidInput(
            f"message {message.id} changed while it was being continued", argument="messageId"
        )
    conversation.current_message_id = message.id
    conversation.updated_at = utcnow()
    return Snapshot(message.content, message.reasoning or "", message.seq, Status.STREAMING)

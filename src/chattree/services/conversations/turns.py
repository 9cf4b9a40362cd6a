"""The rows a turn adds to the tree, the user's message and the STREAMING reply, and the
events that announce them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.engine import Database
from chattree.db.events import About, record_events
from chattree.db.models import Conversation, EventKind, Message, Role, Status
from chattree.db.types import utcnow
from chattree.services.generation import rows


@dataclass(frozen=True, slots=True)
class Started:
    """A reply stored STREAMING, about to be generated: the rows of its unit of work."""

    conversation: Conversation
    prompt: Message  # the user message it answers
    reply: Message
    model: str


async def add_turn(
    session: AsyncSession,
    db: Database,
    conversation: Conversation,
    parent: Message,
    content: str,
    model: str,
) -> tuple[Message, Message]:
    """Adds the user's message under `parent` and a STREAMING reply under it."""
    user_message = Message(
        conversation_id=conversation.id,
        parent_id=parent.id,
        role=Role.USER,
        content=content,
        status=Status.COMPLETE,
        depth=parent.depth + 1,
        created_at=utcnow(),
    )
    session.add(user_message)
    await session.flush()
    return user_message, await add_reply(session, db, conversation, user_message, model)


async def add_reply(
    session: AsyncSession, db: Database, conversation: Conversation, prompt: Message, model: str
) -> Message:
    """Adds a STREAMING reply by `model` under `prompt` and makes it the current message."""
    reply = Message(
        conversation_id=conversation.id,
        parent_id=prompt.id,
        role=Role.ASSISTANT,
        content="",
        status=Status.STREAMING,
        model=model,
        depth=prompt.depth + 1,
        created_at=utcnow(),
        # The clock every heartbeat is judged by (the database's, on PostgreSQL).
        heartbeat_at=rows.now(db),
        seq=0,
    )
    session.add(reply)
    await session.flush()
    conversation.current_message_id = reply.id
    conversation.updated_at = reply.created_at
    return reply


async def record_created(
    session: AsyncSession,
    user_id: int,
    *created: Message,
    moved: bool = False,
    started: bool = False,
) -> None:
    """Events of new messages; `moved`: they also moved the current message; `started`:
    they began their conversation."""
    conversation_id = created[0].conversation_id
    events: list[About] = []
    if started:
        events.append((EventKind.CONVERSATION_CREATED, conversation_id, None))
    events.extend((EventKind.MESSAGE_CREATED, conversation_id, message.id) for message in created)
    if moved:
        events.append((EventKind.CONVERSATION_UPDATED, conversation_id, None))
    await record_events(session, user_id, events)

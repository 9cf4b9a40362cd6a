"""The rows a turn adds to the tree: the user's message and the STREAMING reply."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.engine import Database
from chattree.db.models import Conversation, Message, Role, Status
from chattree.db.types import utcnow
from chattree.services.generation import rows


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

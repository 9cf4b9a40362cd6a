"""Organising conversations: title, archived, pinned."""

from __future__ import annotations

from chattree.db import counters
from chattree.db.engine import Database
from chattree.db.events import record_event
from chattree.db.models import Conversation, EventKind
from chattree.errors import InvalidInput
from chattree.services.conversations.owned import owned_conversation
from chattree.services.titles import check_title


async def update(
    db: Database,
    *,
    user_id: int,
    conversation_id: int,
    title: str | None,
    archived: bool | None,
    pinned: bool | None,
) -> Conversation:
    """Changes the fields given and leaves the others; one event when anything changed.
    updatedAt stays: it is the time of the newest message."""
    if title is None and archived is None and pinned is None:
        raise InvalidInput("give at least one of title, archived and pinned", argument="id")
    if title is not None:
        title = check_title(title)
    async with db.transaction() as session:
        await counters.lock_user(session, user_id=user_id)
        conversation = await owned_conversation(session, conversation_id, user_id)
        before = (conversation.title, conversation.archived, conversation.pinned)
        if title is not None:
            conversation.title = title
            conversation.title_pending = False
        if archived is not None:
            conversation.archived = archived
        if pinned is not None:
            conversation.pinned = pinned
        if (conversation.title, conversation.archived, conversation.pinned) != before:
            await record_event(session, user_id, EventKind.CONVERSATION_UPDATED, conversation.id)
    return conversation

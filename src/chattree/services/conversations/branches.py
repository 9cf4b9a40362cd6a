"""Whole-branch operations: forking a path into a new conversation, deleting a subtree."""

from __future__ import annotations

from chattree.db import counters
from chattree.db.engine import Database
from chattree.db.events import record_event
from chattree.db.models import Conversation, EventKind
from chattree.db.tree import branches
from chattree.db.types import utcnow
from chattree.errors import InvalidInput
from chattree.services.conversations.owned import owned_final_message, owned_message
from chattree.services.generation import GenerationManager
from chattree.services.titles import check_title


class Branches:
    def __init__(self, *, db: Database, generations: GenerationManager) -> None:
        self.db = db
        self.generations = generations

    async def fork(self, *, user_id: int, message_id: int, title: str | None) -> Conversation:
        if title is not None:
            title = check_title(title)
        async with self.db.transaction() as session:
            await counters.lock_user(session, user_id=user_id)
            message = await owned_final_message(session, message_id, user_id, argument="messageId")
            source = await session.get_one(Conversation, message.conversation_id)
            now = utcnow()
            fork = Conversation(
                user_id=user_id,
                title=title or source.title,
                model=source.model,
                created_at=now,
                updated_at=now,
                forked_from_id=message.id,
            )
            session.add(fork)
            await session.flush()
            fork.current_message_id = await branches.copy_path(
                session, end=message.id, conversation_id=fork.id
            )
            await record_event(session, user_id, EventKind.CONVERSATION_CREATED, fork.id)
        return fork

    async def delete_message(self, *, user_id: int, message_id: int) -> Conversation:
        async with self.db.transaction() as session:
            message = await owned_message(session, message_id, user_id)
            # The user first, as every writer of the usage sums locks it (db/usage.py).
            await counters.lock_user(session, user_id=user_id)
            if message.parent_id is None:
                raise InvalidInput(
                    "the root cannot be deleted; delete the conversation instead",
                    argument="id",
                )
            running = await branches.streaming_in_subtree(session, message_id=message.id)
            conversation = await session.get_one(Conversation, message.conversation_id)
            current = conversation.current_message_id
            await branches.delete_subtree(
                session, message_id=message.id, conversation_id=message.conversation_id
            )
            if current is not None and not await branches.exists(session, message_id=current):
                # The current message went with the subtree: its branch now ends at the
                # deleted message's parent, the newest message left on it.
                conversation.current_message_id = message.parent_id
            await record_event(
                session, user_id, EventKind.MESSAGE_DELETED, conversation.id, message.id
            )
            if conversation.current_message_id != current:
                await record_event(
                    session, user_id, EventKind.CONVERSATION_UPDATED, conversation.id
                )
        self.generations.abandon(running)
        return conversation

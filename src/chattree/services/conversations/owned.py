"""The caller's own rows, or NOT_FOUND: someone else's look exactly like missing ones."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db import tree
from chattree.db.engine import Database
from chattree.db.models import Conversation, Message, Status
from chattree.errors import InvalidInput, NotFound


async def owned_message(session: AsyncSession, message_id: int, user_id: int) -> Message:
    message = await tree.owned_message(session, message_id=message_id, user_id=user_id)
    if message is None:
        raise NotFound(f"no message with id {message_id}")
    return message


async def owned_final_message(
    session: AsyncSession, message_id: int, user_id: int, *, argument: str
) -> Message:
    """The user's message, once it is no longer being generated."""
    message = await owned_message(session, message_id, user_id)
    check_final(message, argument=argument)
    return message


def check_final(message: Message, *, argument: str) -> None:
    if message.status is Status.STREAMING:
        raise InvalidInput(
            f"message {message.id} is still being generated; wait for it or cancel it",
            argument=argument,
        )


async def owned_turn(
    session: AsyncSession, message_id: int, user_id: int, *, argument: str
) -> tree.Turn:
    """The user's message a turn goes under, with its conversation, once the message is
    no longer being generated."""
    turn = await tree.owned_turn(session, message_id=message_id, user_id=user_id)
    if turn is None:
        raise NotFound(f"no message with id {message_id}")
    check_final(turn.message, argument=argument)
    return turn


async def owned_conversation(
    session: AsyncSession, conversation_id: int, user_id: int
) -> Conversation:
    found = await tree.owned_conversations(session, [conversation_id], user_id=user_id)
    if conversation_id not in found:
        raise NotFound(f"no conversation with id {conversation_id}")
    return found[conversation_id]


async def read_message(db: Database, message_id: int) -> Message:
    """A message as committed, read after the unit of work that wrote it (a delete may
    have come between)."""
    async with db.reader() as session:
        message = await session.get(Message, message_id)
    if message is None:
        raise NotFound(f"message {message_id} was deleted")
    return message

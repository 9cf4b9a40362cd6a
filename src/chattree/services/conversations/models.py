"""Which model a conversation uses: the one asked for if offered, else the default."""

from __future__ import annotations

from sqlalchemy import select

from chattree.db.engine import Database
from chattree.db.models import Conversation, Message
from chattree.errors import InvalidInput, UpstreamError
from chattree.llm import ModelClient
from chattree.services.text import check_text
from chattree.settings import Settings


async def resolve_model(client: ModelClient, settings: Settings, requested: str | None) -> str:
    """The model to use: `requested` if the server offers it, else the default."""
    if requested is not None:
        check_text(requested, argument="model", max_length=200, allow_empty=False)
    try:
        offered = await client.list_models()
    except UpstreamError:
        # Unreachable now: accept the name; the reply will say what went wrong.
        return requested or settings.default_model or ""
    if requested is not None:
        if requested not in offered:
            names = ", ".join(offered[:20]) or "none"
            raise InvalidInput(
                f"the model server does not offer {requested!r} (it offers: {names})",
                argument="model",
            )
        return requested
    if settings.default_model:
        return settings.default_model
    if not offered:
        raise UpstreamError("the model server lists no models")
    return offered[0]


async def missing_model(
    db: Database, client: ModelClient, settings: Settings, *, user_id: int, message_id: int
) -> str:
    """The model for a conversation that has none yet: one started while the model
    server could not be asked and DEFAULT_MODEL is unset stores "". "" when the
    conversation has its model, or is not the caller's (the unit of work then says
    NOT_FOUND), or the model server still cannot say.

    This runs before the unit of work opens because it may wait on the model server,
    and on SQLite an open write transaction holds the database's one write lock."""
    async with db.reader() as session:
        model = await session.scalar(
            select(Conversation.model)
            .join(Message, Message.conversation_id == Conversation.id)
            .where(Message.id == message_id, Conversation.user_id == user_id)
        )
    if model != "":
        return ""
    return await resolve_model(client, settings, None)


def adopt_model(conversation: Conversation, model: str) -> str:
    """The conversation's model; one stored without a model takes `model` for good."""
    if not conversation.model:
        conversation.model = model
    return conversation.model

"""Which model a conversation uses: the one asked for if offered, else the default."""

from __future__ import annotations

from chattree.db.models import Conversation
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


class ModelMissing(Exception):
    """A unit of work found its conversation without a model: one started while the
    model server could not be asked and DEFAULT_MODEL is unset stores "". The caller
    leaves the transaction, asks the model server (never inside one: on SQLite an open
    write transaction holds the database's one write lock) and runs the work again."""


def choose_model(conversation: Conversation, override: str | None, fallback: str | None) -> str:
    """The model of the next reply: `override` (one reply only), else the conversation's.
    A conversation without one adopts `fallback` for good ("" while the model server
    still cannot say), or raises ModelMissing when the caller has not asked yet."""
    if override is not None:
        return override
    if not conversation.model:
        if fallback is None:
            raise ModelMissing(conversation.id)
        conversation.model = fallback
    return conversation.model

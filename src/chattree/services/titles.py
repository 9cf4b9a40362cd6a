"""Conversation titles: a provisional one at once, a short one from the model later."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select, update

from chattree.db import counters
from chattree.db.engine import Database
from chattree.db.events import record_event
from chattree.db.models import Conversation, EventKind
from chattree.errors import UpstreamError
from chattree.llm import ChatMessage, ModelClient, Sampling
from chattree.services.text import check_text

log = logging.getLogger(__name__)

MAX_TITLE = 200
PROVISIONAL_CHARS = 60
MODEL_TITLE_CHARS = 80
TITLE_INSTRUCTIONS = (
    "Write a short title (at most six words) for a conversation that starts with the "
    "user's message below. Answer with the title alone: no quotes, no punctuation at "
    "the end, no explanation."
)


def check_title(title: str) -> str:
    title = " ".join(title.split())
    check_text(title, argument="title", max_length=MAX_TITLE, allow_empty=False)
    return title


def provisional_title(content: str) -> str:
    """The start of the first message, on one line."""
    line = " ".join(content.split())
    if len(line) <= PROVISIONAL_CHARS:
        return line or "New conversation"
    return line[: PROVISIONAL_CHARS - 1].rstrip() + "…"


def clean_title(raw: str) -> str | None:
    """The first line of what the model wrote, without quotes or markdown; None if empty."""
    for line in raw.splitlines():
        line = re.sub(r"^(title\s*:\s*|#+\s*)", "", line.strip(), flags=re.IGNORECASE)
        line = line.strip().strip("\"'`*").strip().rstrip(".")
        if line:
            return line[:MODEL_TITLE_CHARS]
    return None


async def write_title(
    *,
    db: Database,
    client: ModelClient,
    conversation_id: int,
    model: str,
    first_message: str,
    sampling: Sampling,
) -> None:
    """Replaces the provisional title unless the user renamed the conversation first."""
    title = None
    try:
        title = clean_title(
            await client.complete(
                model=model,
                messages=[
                    ChatMessage("system", TITLE_INSTRUCTIONS),
                    ChatMessage("user", first_message[:4000]),
                ],
                sampling=sampling,
            )
        )
    except UpstreamError as exc:
        log.info("no title from the model for conversation %s: %s", conversation_id, exc)
    values: dict[str, object] = {"title_pending": False}
    if title:
        values["title"] = title
    async with db.transaction() as session:
        # The owner's row before the conversation's, the order of every writer of events.
        owner = await session.scalar(
            select(Conversation.user_id).where(Conversation.id == conversation_id)
        )
        if owner is None:
            return  # deleted meanwhile
        await counters.lock_user(session, user_id=owner)
        written = await session.scalar(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.title_pending)
            .values(**values)
            .returning(Conversation.id)
        )
        if written is not None and title:
            await record_event(session, owner, EventKind.CONVERSATION_UPDATED, conversation_id)

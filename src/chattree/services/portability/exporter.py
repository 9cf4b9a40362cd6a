"""Exporting conversations, one at a time as they are read, in either format."""

from __future__ import annotations

import enum
import json
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from chattree.db import portability
from chattree.db.engine import Database
from chattree.db.models import Conversation, Message
from chattree.errors import NotFound
from chattree.services.portability.chatgpt_write import write_chatgpt
from chattree.services.portability.native import write_native


class ExportFormat(enum.StrEnum):
    CHATTREE = "CHATTREE"
    CHATGPT = "CHATGPT"


WRITERS: dict[ExportFormat, Callable[[Conversation, Sequence[Message]], dict[str, Any]]] = {
    ExportFormat.CHATTREE: write_native,
    ExportFormat.CHATGPT: write_chatgpt,
}


class Exporter:
    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def one(
        self, *, user_id: int, conversation_id: int, format: ExportFormat
    ) -> dict[str, Any]:
        async with self.db.reader() as session:
            found = await portability.with_messages(
                session, conversation_id=conversation_id, user_id=user_id
            )
        if found is None:
            raise NotFound(f"no conversation with id {conversation_id}")
        return WRITERS[format](*found)

    async def all(self, *, user_id: int, format: ExportFormat) -> AsyncIterator[bytes]:
        """The user's conversations as one JSON array, a conversation per chunk. Each is
        read in a short transaction of its own, so a long download holds no lock; one
        deleted meanwhile is left out."""
        async with self.db.reader() as session:
            ids = await portability.conversation_ids(session, user_id=user_id)
        yield b"["
        first = True
        for conversation_id in ids:
            async with self.db.reader() as session:
                found = await portability.with_messages(
                    session, conversation_id=conversation_id, user_id=user_id
                )
            if found is None:
                continue
            text = json.dumps(WRITERS[format](*found), ensure_ascii=False)
            yield (b"" if first else b",\n") + text.encode()
            first = False
        yield b"]\n"

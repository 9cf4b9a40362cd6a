"""Importing a file of conversations: each entry read, mapped and stored on its own, in
one transaction, so a broken entry costs only itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from chattree.db import counters, portability
from chattree.db.engine import Database
from chattree.db.events import record_event
from chattree.db.models import Conversation, EventKind
from chattree.db.types import utcnow
from chattree.errors import InvalidInput
from chattree.services.conversations import DEFAULT_SYSTEM_PROMPT
from chattree.services.portability.chatgpt_read import read_chatgpt, source_of
from chattree.services.portability.native import is_native, read_native
from chattree.services.portability.shapes import BadEntry, NewConversation
from chattree.services.portability.sources import BrokenFile, Entry, entries


@dataclass(frozen=True, slots=True)
class ImportProblem:
    index: int
    source: str | None
    reason: str


@dataclass(slots=True)
class ImportSummary:
    conversations: list[Conversation] = field(default_factory=list)
    message_count: int = 0
    dropped: int = 0
    skipped: list[ImportProblem] = field(default_factory=list)


def convert(value: Any, now: datetime) -> NewConversation:
    if not isinstance(value, dict):
        raise BadEntry("it is not a JSON object")
    if is_native(value):
        return read_native(value)
    if "mapping" in value:
        return read_chatgpt(value, default_prompt=DEFAULT_SYSTEM_PROMPT, now=now)
    raise BadEntry("it is neither a ChatGPT conversation (no `mapping`) nor a ChatTree one")


class Importer:
    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def import_file(
        self, *, user_id: int, file: IO[bytes], progress: Callable[[int], None] | None = None
    ) -> ImportSummary:
        """Imports every readable entry of `file`; `progress` hears the bytes read so far.

        Parsing is blocking file work, so each step of it runs in a thread; the database
        work stays on the event loop."""
        summary = ImportSummary()
        found: Iterator[Entry] = entries(file)
        index = 0
        while True:
            try:
                entry = await asyncio.to_thread(next, found, None)
            except BrokenFile as exc:
                summary.skipped.append(ImportProblem(index, None, str(exc)))
                break
            except InvalidInput as exc:
                if index == 0:
                    raise  # nothing is stored: the whole file is refused
                # A later part of a zip is unreadable: the earlier ones are stored.
                summary.skipped.append(ImportProblem(index, None, exc.message))
                break
            if entry is None:
                break
            index = entry.index + 1
            await self._import_entry(user_id, entry, summary)
            if progress is not None:
                progress(file.tell())
        return summary

    async def _import_entry(self, user_id: int, entry: Entry, summary: ImportSummary) -> None:
        source = source_of(entry.value) if isinstance(entry.value, dict) else None
        try:
            new = convert(entry.value, utcnow())
        except BadEntry as exc:
            summary.skipped.append(ImportProblem(entry.index, source, str(exc)))
            return
        summary.conversations.append(await self._store(user_id, new))
        summary.message_count += len(new.messages)
        summary.dropped += new.dropped

    async def _store(self, user_id: int, new: NewConversation) -> Conversation:
        async with self.db.transaction() as session:
            await counters.lock_user(session, user_id=user_id)
            conversation = Conversation(
                user_id=user_id,
                title=new.title,
                model=new.model,
                created_at=new.created_at,
                updated_at=new.updated_at,
            )
            session.add(conversation)
            await session.flush()
            ids = await portability.insert_tree(
                session, conversation=conversation, rows=new.messages
            )
            if new.current is not None:
                conversation.current_message_id = ids[new.current]
            await record_event(session, user_id, EventKind.CONVERSATION_CREATED, conversation.id)
        return conversation

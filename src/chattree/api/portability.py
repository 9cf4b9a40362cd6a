"""GraphQL side of import and export: the upload, its result, one conversation's export."""

from __future__ import annotations

from enum import Enum
from typing import Any

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from chattree.api.context import Info
from chattree.api.ids import require_id
from chattree.api.types import Conversation
from chattree.errors import InvalidInput
from chattree.services import portability


@strawberry.enum
class ExportFormat(Enum):
    CHATTREE = strawberry.enum_value(
        "CHATTREE",
        description=(
            "ChatTree's own format (docs/export-format.md): every field of every message, "
            "lossless, re-importable."
        ),
    )
    CHATGPT = strawberry.enum_value(
        "CHATGPT",
        description=(
            "ChatGPT's export format: one element of its conversations.json (title, "
            "create_time, update_time, mapping, current_node, ...), readable by tools made "
            "for ChatGPT exports."
        ),
    )


@strawberry.type
class ImportProblem:
    index: int = strawberry.field(
        description=(
            "Position of the entry in the file (0-based, across the parts of a split export)."
        )
    )
    source: str | None = strawberry.field(
        description="The entry's own id or title, where the file has one."
    )
    reason: str


@strawberry.type
class ImportResult:
    conversations: list[Conversation] = strawberry.field(
        description="The conversations created, in the order of the file."
    )
    message_count: int = strawberry.field(
        description="Messages stored across them, roots included."
    )
    dropped_count: int = strawberry.field(
        description=(
            "Nodes of a ChatGPT export left out: tool calls and their output, browsing, "
            "hidden and empty nodes."
        )
    )
    skipped: list[ImportProblem] = strawberry.field(
        description=(
            "Entries that could not be imported, each with why; every other entry is still "
            "imported."
        )
    )


async def import_conversations(info: Info, file: Upload) -> ImportResult:
    try:
        caller = await info.context.user()
        if not isinstance(file, UploadFile):
            raise InvalidInput("file must be a file part of a multipart request", argument="file")
        summary = await info.context.services.importer.import_file(
            user_id=caller.id, file=file.file
        )
    finally:
        if isinstance(file, UploadFile):
            await file.close()  # its spooled temporary file; Starlette leaves it open
    return ImportResult(
        conversations=[Conversation.from_row(row) for row in summary.conversations],
        message_count=summary.message_count,
        dropped_count=summary.dropped,
        skipped=[
            ImportProblem(index=p.index, source=p.source, reason=p.reason) for p in summary.skipped
        ],
    )


async def export_conversation(
    info: Info,
    id: strawberry.ID,
    format: ExportFormat = ExportFormat.CHATTREE,
) -> JSON:
    caller = await info.context.user()
    exported: dict[str, Any] = await info.context.services.exporter.one(
        user_id=caller.id,
        conversation_id=require_id(id, what="conversation"),
        format=portability.ExportFormat(format.name),
    )
    return JSON(exported)

"""ChatTree's own export format, version 1 (docs/export-format.md): every stored field
of every message, so a conversation comes back exactly as it left, ids aside."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chattree.db.models import Conversation, Message, Role, Status
from chattree.services.portability.shapes import (
    BadEntry,
    NewConversation,
    NewMessage,
    clean,
    from_iso,
    model_of,
    title_of,
)

VERSION = 1
VERSION_KEY = "chattree_export_version"


def is_native(entry: dict[str, Any]) -> bool:
    return VERSION_KEY in entry


def write_native(conversation: Conversation, messages: Sequence[Message]) -> dict[str, Any]:
    """`messages` in id order (parents before children)."""
    return {
        VERSION_KEY: VERSION,
        "id": str(conversation.id),
        "title": conversation.title,
        "model": conversation.model,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
        "current_message_id": (
            None
            if conversation.current_message_id is None
            else str(conversation.current_message_id)
        ),
        "messages": [
            {
                "id": str(message.id),
                "parent_id": None if message.parent_id is None else str(message.parent_id),
                "role": message.role.value,
                "content": message.content,
                "reasoning": message.reasoning,
                "status": message.status.value,
                "error": message.error,
                "model": message.model,
                "created_at": message.created_at.isoformat(),
            }
            for message in messages
        ],
    }


def read_native(entry: dict[str, Any]) -> NewConversation:
    version = entry.get(VERSION_KEY)
    if version != VERSION:
        raise BadEntry(f"ChatTree export version {version!r} is not supported (only {VERSION})")
    rows = entry.get("messages")
    if not isinstance(rows, list) or not rows:
        raise BadEntry("it has no messages")
    created = stamp(entry.get("created_at"), "created_at")
    conversation = NewConversation(
        title=title_of(entry.get("title")),
        model=model_of(entry.get("model")) or "",
        created_at=created,
        updated_at=stamp(entry.get("updated_at"), "updated_at"),
    )
    index_of: dict[str, int] = {}
    for position, row in enumerate(rows):
        if not isinstance(row, dict):
            raise BadEntry(f"message {position} is not an object")
        key = str(row.get("id"))
        parent = row.get("parent_id")
        if (parent is None) != (position == 0):
            raise BadEntry(f"message {key}: only the first message is the root")
        if parent is not None and str(parent) not in index_of:
            raise BadEntry(f"message {key}: its parent {parent} does not come before it")
        if key in index_of:
            raise BadEntry(f"message id {key} appears twice")
        index_of[key] = conversation.add(message(row, key, index_of, parent))
    current = entry.get("current_message_id")
    if current is not None:
        if str(current) not in index_of:
            raise BadEntry(f"current_message_id {current} is not one of its messages")
        conversation.current = index_of[str(current)]
    return conversation


def message(row: dict[str, Any], key: str, index_of: dict[str, int], parent: object) -> NewMessage:
    try:
        role = Role(str(row.get("role")))
        status = Status(str(row.get("status")))
    except ValueError as exc:
        raise BadEntry(f"message {key}: {exc}") from None
    if (role is Role.SYSTEM) != (parent is None):
        raise BadEntry(f"message {key}: the root, and only the root, is a SYSTEM message")
    content = row.get("content")
    if not isinstance(content, str):
        raise BadEntry(f"message {key}: content is not a string")
    # A reply that was running when it was exported will never finish here.
    if status is Status.STREAMING:
        status = Status.INTERRUPTED
    return NewMessage(
        parent=None if parent is None else index_of[str(parent)],
        role=role,
        content=clean(content),
        created_at=stamp(row.get("created_at"), f"message {key}: created_at"),
        reasoning=optional_text(row.get("reasoning")),
        status=status,
        error=optional_text(row.get("error")),
        model=model_of(row.get("model")),
    )


def stamp(raw: object, what: str) -> datetime:
    found = from_iso(raw)
    if found is None:
        raise BadEntry(f"{what} is not an ISO 8601 time with an offset")
    return found


def optional_text(raw: object) -> str | None:
    return clean(raw) if isinstance(raw, str) else None

"""A stored conversation in ChatGPT's export format, as tools made for ChatGPT exports
read it: a `mapping` of nodes under a message-less top node, the system prompt as a
hidden system node, reasoning as a "thoughts" node before its answer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from chattree.db.models import Conversation, Message, Role, Status

# Node ids are UUIDs, as ChatGPT writes them, derived from the row ids so that
# exporting the same conversation twice gives the same ids.
NAMESPACE = uuid.UUID("6f1c2d4e-8a3b-4c5d-9e0f-1a2b3c4d5e6f")
ROLES = {Role.SYSTEM: "system", Role.USER: "user", Role.ASSISTANT: "assistant"}
STATUSES = {
    Status.COMPLETE: "finished_successfully",
    Status.STREAMING: "in_progress",
}


def node_id(kind: str, row_id: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kind}:{row_id}"))


def unix(stamp: datetime) -> float:
    return stamp.timestamp()


def write_chatgpt(conversation: Conversation, messages: Sequence[Message]) -> dict[str, Any]:
    """`messages` in id order (parents before children)."""
    top = node_id("top", conversation.id)
    mapping: dict[str, dict[str, Any]] = {
        top: {"id": top, "message": None, "parent": None, "children": []}
    }
    # Where a message's children hang: its own node.
    node_of: dict[int, str] = {}
    for message in messages:
        parent = top if message.parent_id is None else node_of[message.parent_id]
        if message.reasoning and message.role is Role.ASSISTANT:
            parent = link(mapping, parent, thoughts_node(message))
        node_of[message.id] = link(mapping, parent, message_node(message))
    current = conversation.current_message_id
    newest = messages[-1].id if messages else None
    return {
        "title": conversation.title,
        "create_time": unix(conversation.created_at),
        "update_time": unix(conversation.updated_at),
        "mapping": mapping,
        "current_node": node_of.get(current or newest or 0, top),
        "conversation_id": node_id("conversation", conversation.id),
        "id": node_id("conversation", conversation.id),
        "default_model_slug": conversation.model or None,
        "is_archived": False,
        "moderation_results": [],
    }


def link(mapping: dict[str, dict[str, Any]], parent: str, node: dict[str, Any]) -> str:
    mapping[node["id"]] = {**node, "parent": parent, "children": []}
    mapping[parent]["children"].append(node["id"])
    return str(node["id"])


def message_node(message: Message) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    if message.role is Role.SYSTEM:
        metadata["is_visually_hidden_from_conversation"] = True
    if message.model:
        metadata["model_slug"] = message.model
    if message.error:
        metadata["chattree_error"] = message.error
    key = node_id("message", message.id)
    return {
        "id": key,
        "message": {
            "id": key,
            "author": {"role": ROLES[message.role], "name": None, "metadata": {}},
            "create_time": unix(message.created_at),
            "update_time": None,
            "content": {"content_type": "text", "parts": [message.content]},
            "status": STATUSES.get(message.status, "finished_partial_completion"),
            "end_turn": True if message.role is Role.ASSISTANT else None,
            "weight": 1.0,
            "metadata": metadata,
            "recipient": "all",
        },
    }


def thoughts_node(message: Message) -> dict[str, Any]:
    key = node_id("thoughts", message.id)
    return {
        "id": key,
        "message": {
            "id": key,
            "author": {"role": "assistant", "name": None, "metadata": {}},
            "create_time": unix(message.created_at),
            "update_time": None,
            "content": {
                "content_type": "thoughts",
                "thoughts": [{"summary": "", "content": message.reasoning}],
                "source_analysis_msg_id": node_id("message", message.id),
            },
            "status": "finished_successfully",
            "end_turn": False,
            "weight": 1.0,
            "metadata": {"model_slug": message.model} if message.model else {},
            "recipient": "all",
        },
    }

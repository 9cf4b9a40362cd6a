"""One conversation of a ChatGPT export (an element of conversations.json) as a tree.

ChatGPT's `mapping` holds every node of the tree, visible or not. Visible user and
assistant text is kept under its nearest kept ancestor, so every branch survives and
siblings keep their order; reasoning goes into the next assistant message; tool calls,
tool output, browsing and hidden nodes are left out and counted."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chattree.db.models import Role
from chattree.services.portability.shapes import (
    BadEntry,
    NewConversation,
    NewMessage,
    clean,
    from_unix,
    model_of,
    title_of,
)

TEXT_TYPES = frozenset({"text", "multimodal_text", "code"})
REASONING_TYPES = frozenset({"thoughts", "reasoning_recap"})
ROLES = frozenset({"user", "assistant"})


@dataclass(frozen=True, slots=True)
class Step:
    """A node to visit, with what its kept ancestors hand down to it."""

    node: str
    parent: int  # index of the nearest kept ancestor
    reasoning: tuple[str, ...]  # not yet given to an assistant message
    time: datetime


def source_of(entry: dict[str, Any]) -> str | None:
    for key in ("conversation_id", "id", "title"):
        value = entry.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def read_chatgpt(entry: dict[str, Any], *, default_prompt: str, now: datetime) -> NewConversation:
    nodes = nodes_of(entry.get("mapping"))
    default_model = model_of(entry.get("default_model_slug"))
    created = from_unix(entry.get("create_time"))
    updated = from_unix(entry.get("update_time"))
    start = created or earliest(nodes) or updated or now
    tops, children = structure(nodes)
    root_node, root_text = system_prompt(nodes, tops, children)
    conversation = NewConversation(
        title=title_of(entry.get("title")),
        model=default_model or "",
        created_at=start,
        updated_at=updated or start,
    )
    conversation.add(
        NewMessage(
            parent=None, role=Role.SYSTEM, content=root_text or default_prompt, created_at=start
        )
    )
    kept_at = walk(nodes, tops, children, skip=root_node, into=conversation, model=default_model)
    # Nodes in a cycle are reached from no top node.
    conversation.dropped += sum(
        1 for node in nodes if node not in kept_at and nodes[node].get("message") is not None
    )
    current = entry.get("current_node")
    if isinstance(current, str) and current in kept_at:
        conversation.current = kept_at[current]
    if not conversation.model:
        conversation.model = next((m.model for m in reversed(conversation.messages) if m.model), "")
    newest = max(m.created_at for m in conversation.messages)
    conversation.updated_at = max(conversation.updated_at, newest)
    return conversation


def walk(
    nodes: dict[str, dict[str, Any]],
    tops: list[str],
    children: dict[str, list[str]],
    *,
    skip: str | None,
    into: NewConversation,
    model: str | None,
) -> dict[str, int]:
    """Adds the kept messages to `into`, depth first so siblings keep their order;
    returns, for each node reached, the index of its nearest kept ancestor-or-self."""
    kept_at: dict[str, int] = {}
    stack = [Step(node, 0, (), into.created_at) for node in reversed(tops)]
    while stack:
        step = stack.pop()
        if step.node in kept_at:
            continue  # listed twice
        message = message_of(nodes[step.node], step.node)
        below = step if message is None or step.node == skip else visit(step, message, into, model)
        kept_at[step.node] = below.parent
        stack.extend(
            Step(child, below.parent, below.reasoning, below.time)
            for child in reversed(children.get(step.node, []))
        )
    return kept_at


def visit(
    step: Step, message: dict[str, Any], into: NewConversation, default_model: str | None
) -> Step:
    """Keeps, folds or drops one message; returns what it hands down to its children."""
    time = from_unix(message.get("create_time")) or step.time
    kind, text = classify(message)
    if kind == "reasoning":
        return replace(
            step, reasoning=(*step.reasoning, text) if text else step.reasoning, time=time
        )
    if kind == "recap":
        # "Thought for 12 seconds": only worth keeping when the thoughts are not.
        return replace(step, reasoning=step.reasoning or ((text,) if text else ()), time=time)
    if kind == "user":
        index = into.add(
            NewMessage(parent=step.parent, role=Role.USER, content=text, created_at=time)
        )
        return Step(step.node, index, step.reasoning, time)
    if kind == "assistant":
        index = into.add(
            NewMessage(
                parent=step.parent,
                role=Role.ASSISTANT,
                content=text,
                created_at=time,
                reasoning="\n\n".join(step.reasoning) or None,
                model=model_of(metadata_of(message).get("model_slug")) or default_model,
            )
        )
        return Step(step.node, index, (), time)
    into.dropped += 1
    return replace(step, time=time)


def earliest(nodes: dict[str, dict[str, Any]]) -> datetime | None:
    times = [
        stamp
        for node in nodes.values()
        if isinstance(message := node.get("message"), dict)
        and (stamp := from_unix(message.get("create_time"))) is not None
    ]
    return min(times, default=None)


def nodes_of(mapping: object) -> dict[str, dict[str, Any]]:
    if not isinstance(mapping, dict) or not mapping:
        raise BadEntry("it has no `mapping` of messages")
    nodes: dict[str, dict[str, Any]] = {}
    for key, node in mapping.items():
        if not isinstance(node, dict):
            raise BadEntry(f"node {key!r} of its mapping is not an object")
        nodes[str(key)] = node
    return nodes


def structure(
    nodes: dict[str, dict[str, Any]],
) -> tuple[list[str], dict[str, list[str]]]:
    """The top nodes (no parent, then orphans whose parent is missing) and each node's
    children, in the order its `children` list gives, unlisted ones last."""
    tops: list[str] = []
    orphans: list[str] = []
    children: dict[str, list[str]] = {}
    for key, node in nodes.items():
        parent = node.get("parent")
        if parent is None:
            tops.append(key)
        elif not isinstance(parent, str) or parent not in nodes or parent == key:
            orphans.append(key)
        else:
            children.setdefault(parent, []).append(key)
    for parent, kids in children.items():
        listed = nodes[parent].get("children")
        order = {str(k): i for i, k in enumerate(listed)} if isinstance(listed, list) else {}
        kids.sort(key=lambda kid: order.get(kid, len(order)))
    return tops + orphans, children


def system_prompt(
    nodes: dict[str, dict[str, Any]], tops: list[str], children: dict[str, list[str]]
) -> tuple[str | None, str | None]:
    """The first system node on the way down from the top that holds text, and its text."""
    stack = list(reversed(tops))
    seen: set[str] = set()
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        message = message_of(nodes[key], key)
        if message is not None:
            if author_of(message) != "system":
                continue  # a system prompt comes before the first real message
            text = text_of(content_of(message))
            if text.strip():
                return key, text
        stack.extend(reversed(children.get(key, [])))
    return None, None


def message_of(node: dict[str, Any], key: str) -> dict[str, Any] | None:
    message = node.get("message")
    if message is not None and not isinstance(message, dict):
        raise BadEntry(f"node {key!r}: its message is not an object")
    return message


def metadata_of(message: dict[str, Any]) -> dict[str, Any]:
    metadata = message.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def author_of(message: dict[str, Any]) -> str | None:
    author = message.get("author")
    role = author.get("role") if isinstance(author, dict) else None
    return role if isinstance(role, str) else None


def content_of(message: dict[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    return content if isinstance(content, dict) else {}


def classify(message: dict[str, Any]) -> tuple[str, str]:
    """("user" | "assistant", text), ("reasoning" | "recap", text), or ("drop", "")."""
    role = author_of(message)
    content = content_of(message)
    kind = content.get("content_type")
    if role == "assistant" and kind in REASONING_TYPES:
        return "reasoning" if kind == "thoughts" else "recap", reasoning_of(content)
    recipient = message.get("recipient")
    if (
        role not in ROLES
        or kind not in TEXT_TYPES
        or recipient not in (None, "all")  # a call to a tool
        or metadata_of(message).get("is_visually_hidden_from_conversation")
    ):
        return "drop", ""
    text = text_of(content)
    return (role, text) if text.strip() else ("drop", "")


def text_of(content: dict[str, Any]) -> str:
    if content.get("content_type") == "code":
        code = content.get("text")
        language = content.get("language")
        fence = language if isinstance(language, str) and language != "unknown" else ""
        return clean(f"```{fence}\n{code}\n```") if isinstance(code, str) and code else ""
    parts = content.get("parts")
    if not isinstance(parts, list):
        text = content.get("text")
        return clean(text) if isinstance(text, str) else ""
    return clean("\n".join(filter(None, (part_text(part) for part in parts))))


def part_text(part: object) -> str:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return ""
    kind = part.get("content_type")
    if kind == "image_asset_pointer":
        # Attachments are not stored yet: a placeholder names the asset.
        return f"[image: {part.get('asset_pointer') or 'unnamed'}]"
    text = part.get("text")
    if isinstance(text, str):
        return text  # e.g. audio_transcription
    return f"[{kind}]" if isinstance(kind, str) else ""


def reasoning_of(content: dict[str, Any]) -> str:
    if content.get("content_type") == "reasoning_recap":
        recap = content.get("content")
        return clean(recap) if isinstance(recap, str) else ""
    thoughts = content.get("thoughts")
    if not isinstance(thoughts, list):
        return ""
    texts = []
    for thought in thoughts:
        if isinstance(thought, dict):
            summary, body = thought.get("summary"), thought.get("content")
            texts.append("\n".join(t for t in (summary, body) if isinstance(t, str) and t))
    return clean("\n\n".join(t for t in texts if t))

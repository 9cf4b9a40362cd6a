"""ChatGPT data exports built the way ChatGPT writes them: a `mapping` of nodes under a
message-less top node, hidden system and context nodes, regenerations and edits as
siblings, thoughts before answers, tool calls and browsing between a question and its
answer, image parts, missing times and orphan nodes."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

T0 = 1_700_000_000.0


class Mapping:
    """Builds a conversation's `mapping`, children in the order they are added."""

    def __init__(self) -> None:
        self.nodes: dict[str, dict[str, Any]] = {}

    def node(
        self,
        key: str,
        parent: str | None,
        *,
        role: str | None = None,
        content: dict[str, Any] | None = None,
        time: float | None = None,
        model: str | None = None,
        hidden: bool = False,
        recipient: str = "all",
    ) -> str:
        message = None
        if role is not None:
            metadata: dict[str, Any] = {}
            if model:
                metadata["model_slug"] = model
            if hidden:
                metadata["is_visually_hidden_from_conversation"] = True
            message = {
                "id": key,
                "author": {"role": role, "name": None, "metadata": {}},
                "create_time": time,
                "update_time": None,
                "content": content or {"content_type": "text", "parts": [""]},
                "status": "finished_successfully",
                "end_turn": True if role == "assistant" else None,
                "weight": 1.0,
                "metadata": metadata,
                "recipient": recipient,
            }
        self.nodes[key] = {"id": key, "message": message, "parent": parent, "children": []}
        if parent in self.nodes:
            self.nodes[parent]["children"].append(key)
        return key


def text(value: str) -> dict[str, Any]:
    return {"content_type": "text", "parts": [value]}


def trip() -> dict[str, Any]:
    """Branches at several depths, a regeneration, thoughts, a browsing detour, an image,
    missing times, a hidden system prompt and an orphan.

    top ─ system (hidden, empty) ─ user_editable_context (hidden)
      └ u1 "Plan a trip to Lisbon"
         ├ a1
         │  ├ u2 "Add museums"
         │  │  ├ thoughts ─ reasoning_recap ─ a2   (reasoning from the thoughts)
         │  │  └ a2b                             (regenerated)
         │  └ u2b "Add food"                     (edited)
         │     └ call (to the browser) ─ browsing ─ quote ─ a3
         │        └ a3 ─ img (image + text) ─ a4 (no create_time)
         └ a1b                                   (regenerated, no time, no model)
    orphan: its parent is not in the mapping
    """
    m = Mapping()
    m.node("top", None)
    m.node("sys", "top", role="system", hidden=True, time=None)
    m.node(
        "context",
        "sys",
        role="user",
        hidden=True,
        content={
            "content_type": "user_editable_context",
            "user_profile": "I live in Porto.",
            "user_instructions": "Be brief.",
        },
    )
    m.node("u1", "context", role="user", content=text("Plan a trip to Lisbon"), time=T0 + 10)
    m.node(
        "a1", "u1", role="assistant", content=text("Day 1: Alfama."), time=T0 + 20, model="gpt-4o"
    )
    m.node("u2", "a1", role="user", content=text("Add museums"), time=T0 + 30)
    m.node(
        "thoughts",
        "u2",
        role="assistant",
        time=T0 + 31,
        model="o3",
        content={
            "content_type": "thoughts",
            "thoughts": [
                {"summary": "Museums", "content": "Gulbenkian and MAAT are the obvious picks."},
                {"summary": "Timing", "content": "Both close on Tuesdays."},
            ],
            "source_analysis_msg_id": "x",
        },
    )
    m.node(
        "recap",
        "thoughts",
        role="assistant",
        time=T0 + 32,
        model="o3",
        content={"content_type": "reasoning_recap", "content": "Thought for 3 seconds"},
    )
    m.node(
        "a2", "recap", role="assistant", content=text("Gulbenkian, MAAT."), time=T0 + 33, model="o3"
    )
    m.node(
        "a2b",
        "u2",
        role="assistant",
        content=text("Try the Tile Museum."),
        time=T0 + 40,
        model="gpt-4o",
    )
    m.node("u2b", "a1", role="user", content=text("Add food"), time=T0 + 50)
    m.node(
        "call",
        "u2b",
        role="assistant",
        recipient="browser",
        time=T0 + 51,
        model="gpt-4o",
        content={"content_type": "code", "language": "unknown", "text": "search('pastel de nata')"},
    )
    m.node(
        "browsing",
        "call",
        role="tool",
        time=T0 + 52,
        content={"content_type": "tether_browsing_display", "result": "# results", "summary": None},
    )
    m.node(
        "quote",
        "browsing",
        role="tool",
        time=T0 + 53,
        content={"content_type": "tether_quote", "url": "https://example.com", "text": "Pastéis"},
    )
    m.node(
        "a3",
        "quote",
        role="assistant",
        content=text("Eat pastel de nata."),
        time=T0 + 54,
        model="gpt-4o",
    )
    m.node(
        "img",
        "a3",
        role="user",
        time=T0 + 60,
        content={
            "content_type": "multimodal_text",
            "parts": [
                {
                    "content_type": "image_asset_pointer",
                    "asset_pointer": "file-service://file-Abc123",
                    "size_bytes": 1000,
                    "width": 10,
                    "height": 10,
                },
                "What is this pastry?",
            ],
        },
    )
    m.node(
        "a4", "img", role="assistant", content=text("A pastel de nata."), time=None, model="gpt-4o"
    )
    m.node("a1b", "u1", role="assistant", content=text("Day 1: Belém."), time=None)
    m.node("orphan", "missing-node", role="user", content=text("Lost question"), time=T0 + 70)
    return {
        "title": "Trip planning",
        "create_time": T0,
        "update_time": T0 + 100,
        "mapping": m.nodes,
        "current_node": "a4",
        "conversation_id": "conv-trip",
        "id": "conv-trip",
        "default_model_slug": "gpt-4o-mini",
        "moderation_results": [],
    }


def code_help() -> dict[str, Any]:
    """A visible system prompt, a python tool call, no conversation times, and the
    current node on a tool node."""
    m = Mapping()
    m.node("top", None)
    m.node("sys", "top", role="system", content=text("You are a terse pirate."), time=None)
    m.node("u1", "sys", role="user", content=text("What is 2+2?"), time=T0 + 5)
    m.node(
        "call",
        "u1",
        role="assistant",
        recipient="python",
        time=T0 + 6,
        model="gpt-4",
        content={"content_type": "code", "language": "python", "text": "2+2"},
    )
    m.node(
        "output",
        "call",
        role="tool",
        time=T0 + 7,
        content={"content_type": "execution_output", "text": "4"},
    )
    m.node("a1", "output", role="assistant", content=text("Arr, 4."), time=T0 + 8, model="gpt-4")
    return {
        "title": "Code help",
        "create_time": None,
        "update_time": None,
        "mapping": m.nodes,
        "current_node": "output",
        "id": "conv-code",
        "default_model_slug": "gpt-4",
    }


def broken() -> dict[str, Any]:
    return {"title": "Broken", "mapping": "not an object", "id": "conv-broken"}


def conversations_json() -> bytes:
    return json.dumps([trip(), broken(), code_help()]).encode()


def split_zip() -> bytes:
    """The newer layout: conversations-000.json, -001.json and export_manifest.json."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("user.json", json.dumps({"id": "user-1"}))
        archive.writestr("conversations-001.json", json.dumps([code_help()]))
        archive.writestr("conversations-000.json", json.dumps([trip(), broken()]))
        archive.writestr(
            "export_manifest.json",
            json.dumps({"conversations": ["conversations-000.json", "conversations-001.json"]}),
        )
        archive.writestr("file-Abc123.png", b"\x89PNG")
    return buffer.getvalue()


def old_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversations.json", conversations_json())
        archive.writestr("chat.html", "<html></html>")
    return buffer.getvalue()

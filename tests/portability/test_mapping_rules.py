"""The rules that turn one export entry into a tree, without a server: what ChatGPT's
odd nodes become, and which ChatTree entries are refused and why."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from chattree.db.models import Role, Status
from chattree.services.portability.chatgpt_read import read_chatgpt
from chattree.services.portability.native import read_native
from chattree.services.portability.shapes import BadEntry, NewConversation
from tests.portability import chatgpt_export as gpt
from tests.portability.test_statements import chain

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def read(entry: dict[str, Any]) -> NewConversation:
    return read_chatgpt(entry, default_prompt="Default.", now=NOW)


def contents(conversation: NewConversation) -> list[tuple[int | None, str]]:
    return [(m.parent, m.content) for m in conversation.messages]


def test_a_cycle_of_nodes_is_dropped_and_counted() -> None:
    m = gpt.Mapping()
    m.node("top", None)
    m.node("u1", "top", role="user", content=gpt.text("kept"))
    m.node("a", "b", role="user", content=gpt.text("in a cycle"))
    m.node("b", "a", role="assistant", content=gpt.text("in a cycle too"))
    conversation = read({"title": "t", "mapping": m.nodes})
    assert contents(conversation) == [(None, "Default."), (0, "kept")]
    assert conversation.dropped == 2


def test_a_recap_alone_becomes_the_reasoning() -> None:
    m = gpt.Mapping()
    m.node("u", None, role="user", content=gpt.text("q"))
    m.node(
        "r",
        "u",
        role="assistant",
        content={"content_type": "reasoning_recap", "content": "Thought for 2 seconds"},
    )
    m.node("a", "r", role="assistant", content=gpt.text("answer"))
    (_, question, answer) = read({"mapping": m.nodes}).messages
    assert answer.reasoning == "Thought for 2 seconds"
    assert question.reasoning is None


def test_visible_code_is_fenced_and_unknown_content_dropped() -> None:
    m = gpt.Mapping()
    m.node("u", None, role="user", content=gpt.text("show code"))
    m.node(
        "a",
        "u",
        role="assistant",
        content={"content_type": "code", "language": "python", "text": "print(1)"},
    )
    m.node("x", "a", role="assistant", content={"content_type": "system_error", "name": "x"})
    conversation = read({"mapping": m.nodes})
    assert conversation.messages[2].content == "```python\nprint(1)\n```"
    assert conversation.dropped == 1


def test_unstorable_text_and_long_titles_are_made_storable() -> None:
    m = gpt.Mapping()
    m.node("u", None, role="user", content=gpt.text("nul \x00 and \ud800"))
    conversation = read({"title": "x" * 500, "mapping": m.nodes})
    assert conversation.messages[1].content == "nul \ufffd and \ufffd"
    assert conversation.title == "x" * 200
    assert read({"title": "   ", "mapping": m.nodes}).title == "Imported conversation"


def test_nothing_with_a_time_falls_back_to_now() -> None:
    m = gpt.Mapping()
    m.node("u", None, role="user", content=gpt.text("when?"))
    conversation = read({"mapping": m.nodes, "create_time": "yesterday"})
    assert conversation.created_at == NOW
    assert conversation.messages[1].created_at == NOW


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"mapping": []}, "no `mapping`"),
        ({"mapping": {}}, "no `mapping`"),
        ({"mapping": {"a": 1}}, "node 'a' of its mapping is not an object"),
        ({"mapping": {"a": {"message": "hi", "parent": None}}}, "its message is not an object"),
    ],
)
def test_broken_chatgpt_entries_say_why(entry: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadEntry, match=reason):
        read(entry)


def test_a_chattree_entry_comes_back_field_for_field() -> None:
    entry = chain(3)
    entry["messages"][3]["status"] = "STREAMING"
    entry["messages"][2]["error"] = "boom"
    conversation = read_native(entry)
    assert [(m.parent, m.role) for m in conversation.messages] == [
        (None, Role.SYSTEM),
        (0, Role.USER),
        (1, Role.ASSISTANT),
        (2, Role.USER),
    ]
    assert conversation.current == 3
    # Nothing will finish a reply that was running when it was exported.
    assert conversation.messages[3].status is Status.INTERRUPTED
    assert conversation.messages[2].error == "boom"


def broken(change: str) -> dict[str, Any]:
    entry = copy.deepcopy(chain(3))
    messages = entry["messages"]
    if change == "version":
        entry["chattree_export_version"] = 2
    elif change == "order":
        messages[1], messages[2] = messages[2], messages[1]
    elif change == "two roots":
        messages[2]["parent_id"] = None
    elif change == "role":
        messages[1]["role"] = "TOOL"
    elif change == "system below the root":
        messages[1]["role"] = "SYSTEM"
    elif change == "time":
        messages[1]["created_at"] = "2026-01-01T00:00:00"
    elif change == "current":
        entry["current_message_id"] = "99"
    elif change == "duplicate":
        messages[3]["id"] = "1"
    elif change == "content":
        messages[1]["content"] = None
    elif change == "empty":
        entry["messages"] = []
    return entry


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ("version", "version 2 is not supported"),
        ("order", "does not come before it"),
        ("two roots", "only the first message is the root"),
        ("role", "'TOOL' is not a valid Role"),
        ("system below the root", "only the root, is a SYSTEM message"),
        ("time", "not an ISO 8601 time with an offset"),
        ("current", "current_message_id 99"),
        ("duplicate", "appears twice"),
        ("content", "content is not a string"),
        ("empty", "no messages"),
    ],
)
def test_broken_chattree_entries_say_why(change: str, reason: str) -> None:
    with pytest.raises(BadEntry, match=reason):
        read_native(broken(change))

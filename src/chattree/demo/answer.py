"""What the demo model says: where the reply sits in the tree, and how to use a real model.

The demo model sees only what any model sees, the chat messages of one request. Depth
comes from counting them. Branches come from the model's memory of earlier requests:
the same history with another last user message is an edit, the same messages once
more are a regeneration. That memory lasts as long as the demo process.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

V = TypeVar("V")

REMEMBERED = 10_000  # requests; the oldest are forgotten first
QUOTED = 80  # characters of the user's message repeated in the answer


@dataclass(frozen=True, slots=True)
class Position:
    """Where a reply sits, as far as its request shows."""

    depth: int  # of the reply, with the first message (the system prompt) at depth 0
    user_turns: int
    assistant_turns: int
    has_system_prompt: bool
    version: int  # 1 + how many other last user messages followed the same history
    versions: int
    answer: int  # 1 + how many times these exact messages were answered before
    last_user_message: str


class Memory:
    """The requests the demo model has answered, in bounded memory."""

    def __init__(self, limit: int = REMEMBERED) -> None:
        self.limit = limit
        # history before the last message -> digests of the last messages seen after it
        self._versions: OrderedDict[str, list[str]] = OrderedDict()
        self._answers: OrderedDict[str, int] = OrderedDict()

    def place(self, messages: Sequence[dict[str, Any]]) -> Position:
        """Records one streaming request and tells where its reply sits."""
        roles = [str(message.get("role")) for message in messages]
        history, last = digest(messages[:-1]), digest(messages[-1:])
        versions = self._remember(self._versions, history, list[str]())
        if last not in versions:
            versions.append(last)
        answers = self._remember(self._answers, history + last, 0) + 1
        self._answers[history + last] = answers
        last_user = next(
            (str(m.get("content", "")) for m in reversed(messages) if m.get("role") == "user"),
            "",
        )
        return Position(
            depth=len(messages),
            user_turns=roles.count("user"),
            assistant_turns=roles.count("assistant"),
            has_system_prompt=roles[:1] == ["system"],
            version=versions.index(last) + 1,
            versions=len(versions),
            answer=answers,
            last_user_message=last_user,
        )

    def _remember(self, table: OrderedDict[str, V], key: str, empty: V) -> V:
        value = table.setdefault(key, empty)
        table.move_to_end(key)
        while len(table) > self.limit:
            table.popitem(last=False)
        return value


def digest(messages: Sequence[dict[str, Any]]) -> str:
    raw = json.dumps(
        [[m.get("role"), m.get("content")] for m in messages], ensure_ascii=False
    ).encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def reasoning(position: Position) -> str:
    system = "a system prompt, " if position.has_system_prompt else ""
    return (
        f"I was sent {system}{plural(position.user_turns, 'user message')} and "
        f"{plural(position.assistant_turns, 'earlier reply', 'earlier replies')}, so my "
        f"reply sits at depth {position.depth}. After this same history I have seen "
        f"{plural(position.versions, 'different last message')} (more than one means an "
        f"edit), and I answered exactly these messages "
        f"{plural(position.answer - 1, 'time')} before (any means a regeneration)."
    )


def answer(position: Position) -> str:
    quoted = " ".join(position.last_user_message.split())
    if len(quoted) > QUOTED:
        quoted = quoted[: QUOTED - 1].rstrip() + "…"
    root = (
        "the system prompt is depth 0"
        if position.has_system_prompt
        else "the first message is depth 0"
    )
    lines = [
        "This is ChatTree's **demo model**: no language model wrote this. It streams a "
        "fixed explanation at about 30 tokens a second, so you can watch a reply arrive.",
        "",
        f"You said: “{quoted}”",
        "",
        f"- **Depth**: this reply is at depth {position.depth} of the tree ({root}), "
        f"after {plural(position.user_turns, 'message')} of yours and "
        f"{plural(position.assistant_turns, 'reply', 'replies')} of mine on this branch.",
        f"- **Branch**: {branch_line(position)}",
        f"- **Siblings**: {sibling_line(position)}",
        "",
        "Edit your message (send a prompt under the same parent) to start a new branch, or "
        "regenerate this reply to add a sibling, and I will tell.",
        "",
        "To talk to a real model, stop the demo and run `chattree serve` with "
        "`MODEL_BASE_URL` set to any OpenAI-compatible server (Ollama's "
        "`http://127.0.0.1:11434/v1`, vLLM, llama.cpp, a hosted API), `MODEL_API_KEY` if it "
        "needs a key, and `DEFAULT_MODEL` to choose the model.",
    ]
    return "\n".join(lines)


def branch_line(position: Position) -> str:
    if position.versions == 1:
        return (
            "your last message is the only one I have seen after this history, so this "
            "branch has not been edited here (as far as this demo process knows)."
        )
    return (
        f"your last message is version {position.version} of "
        f"{position.versions} I have seen after this history: an edit, so this is one of "
        f"{position.versions} branches from here."
    )


def sibling_line(position: Position) -> str:
    if position.answer == 1:
        return "this is my first answer to exactly these messages: no sibling replies yet."
    return (
        f"this is answer number {position.answer} to exactly these messages: a "
        f"regeneration, so this reply has {plural(position.answer - 1, 'older sibling')}."
    )


def title(messages: Sequence[dict[str, Any]]) -> str:
    """A title for a title request: the first words of its user message."""
    user = next((str(m.get("content", "")) for m in messages if m.get("role") == "user"), "")
    words = user.split()[:6]
    return " ".join(words).rstrip(".?!,;:") or "Demo conversation"


def plural(count: int, singular: str, many: str | None = None) -> str:
    return f"{count} {singular if count == 1 else many or singular + 's'}"

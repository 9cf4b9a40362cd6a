"""Splitting `<think>...</think>` reasoning out of content, as it streams in.

A tag may arrive cut across chunks at any point ("<th" + "ink>"), so the splitter holds
back only a tail that could still become a tag, and emits everything else at once.
"""

from __future__ import annotations

OPEN, CLOSE = "<think>", "</think>"


class ThinkSplitter:
    def __init__(self) -> None:
        self._held = ""
        self._thinking = False
        self._after_close = False  # drop the blank lines models put after </think>

    def feed(self, text: str) -> tuple[str, str]:
        """(content, reasoning) that can be emitted now."""
        content: list[str] = []
        reasoning: list[str] = []
        text = self._held + text
        self._held = ""
        while text:
            tag = CLOSE if self._thinking else OPEN
            index = text.find(tag)
            if index >= 0:
                self._emit(text[:index], content, reasoning)
                text = text[index + len(tag) :]
                self._thinking = not self._thinking
                self._after_close = not self._thinking
                continue
            keep = partial_tag_length(text, tag)
            self._emit(text[: len(text) - keep], content, reasoning)
            self._held = text[len(text) - keep :]
            break
        return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """What was held back, at the end of the stream."""
        held, self._held = self._held, ""
        content: list[str] = []
        reasoning: list[str] = []
        self._emit(held, content, reasoning)
        return "".join(content), "".join(reasoning)

    def _emit(self, text: str, content: list[str], reasoning: list[str]) -> None:
        if self._thinking:
            reasoning.append(text)
            return
        if self._after_close:
            text = text.lstrip()
            if not text:
                return
            self._after_close = False
        content.append(text)


def partial_tag_length(text: str, tag: str) -> int:
    """Length of the longest end of `text` that is a start of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def split_think(text: str) -> tuple[str, str]:
    """(content, reasoning) of a whole text."""
    splitter = ThinkSplitter()
    content, reasoning = splitter.feed(text)
    rest_content, rest_reasoning = splitter.flush()
    return content + rest_content, reasoning + rest_reasoning

"""Separates `<think>...</think>` reasoning from the answer in streamed model output.

Models such as DeepSeek-R1 and Qwen3 served without a reasoning parser put their
reasoning inline in `content`. A stream can cut a tag at any character, so the splitter
holds back only the end of a chunk that could still grow into a tag; everything else is
emitted at once, which keeps the live stream smooth.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


def partial_tag_length(text: str, tag: str) -> int:
    """How many trailing characters of `text` could be the start of `tag`, a tag whose
    only "<" is its first character: so only the last "<" can start a partial one."""
    start = text.rfind("<", max(len(text) - len(tag) + 1, 0))
    if start < 0 or not tag.startswith(text[start:]):
        return 0
    return len(text) - start


class ThinkSplitter:
    """Feed it content chunks in order; it answers (content, reasoning) safe to emit."""

    def __init__(self) -> None:
        self._inside = False
        self._held = ""
        # Models write "</think>\n\n" before the answer; that whitespace is not content.
        self._strip_leading = False

    def feed(self, text: str) -> tuple[str, str]:
        content: list[str] = []
        reasoning: list[str] = []
        rest = self._held + text
        self._held = ""
        while rest:
            tag = CLOSE if self._inside else OPEN
            found = rest.find(tag)
            if found < 0:
                held = partial_tag_length(rest, tag)
                self._emit(rest[: len(rest) - held], content, reasoning)
                self._held = rest[len(rest) - held :]
                break
            self._emit(rest[:found], content, reasoning)
            rest = rest[found + len(tag) :]
            self._inside = not self._inside
            self._strip_leading = not self._inside
        return "".join(content), "".join(reasoning)

    def flush(self) -> tuple[str, str]:
        """What was held back; call once the stream has ended."""
        content: list[str] = []
        reasoning: list[str] = []
        self._emit(self._held, content, reasoning)
        self._held = ""
        return "".join(content), "".join(reasoning)

    def _emit(self, text: str, content: list[str], reasoning: list[str]) -> None:
        if self._inside:
            reasoning.append(text)
            return
        if self._strip_leading:
            text = text.lstrip()
            if not text:
                return
            self._strip_leading = False
        content.append(text)


def split_think(text: str) -> tuple[str, str]:
    """(content, reasoning) of a whole answer."""
    splitter = ThinkSplitter()
    content, reasoning = splitter.feed(text)
    more_content, more_reasoning = splitter.flush()
    return content + more_content, reasoning + more_reasoning

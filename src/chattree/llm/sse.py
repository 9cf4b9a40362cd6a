"""Incremental parsing of a server-sent-events body of chat-completion chunks."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

from chattree.errors import UpstreamError

DONE = "[DONE]"


class SSEParser:
    """Feed it bytes as they arrive; it yields each complete event's data."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[str]:
        self._buffer += self._decoder.decode(chunk)
        while True:
            end = self._line_end()
            if end is None:
                return
            line, self._buffer = self._buffer[: end[0]], self._buffer[end[1] :]
            if not line:
                if self._data:
                    yield "\n".join(self._data)
                    self._data = []
                continue
            if line.startswith(":"):
                continue  # comment, e.g. a keep-alive
            name, _, value = line.partition(":")
            if name == "data":
                self._data.append(value[1:] if value.startswith(" ") else value)

    def close(self) -> Iterator[str]:
        """The last event, if the body ended without a blank line after it."""
        yield from self.feed(b"\n\n" if self._buffer or self._data else b"")

    def _line_end(self) -> tuple[int, int] | None:
        for index, char in enumerate(self._buffer):
            if char == "\n":
                return index, index + 1
            if char == "\r":
                if index + 1 == len(self._buffer):
                    return None  # a "\n" may follow in the next chunk
                return index, index + (2 if self._buffer[index + 1] == "\n" else 1)
        return None


def parse_chunk(data: str) -> dict[str, Any]:
    """One chunk object; upstream error objects become UpstreamError."""
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise UpstreamError(f"model server sent a malformed chunk: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise UpstreamError(f"model server sent a malformed chunk: {data[:200]!r}")
    if "error" in chunk:
        raise UpstreamError(f"model server error: {error_message(chunk)}")
    return chunk


def error_message(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:500]
    if error:
        return str(error)[:500]
    return str(body)[:500]

r"""Incremental parsing of an OpenAI chat-completions server-sent-events body.

The body arrives in chunks split anywhere: in the middle of a line, of a "\r\n" pair or
of a UTF-8 character. Lines are cut on bytes and decoded whole, which is safe because
"\r" and "\n" never occur inside a multi-byte UTF-8 sequence.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import orjson

from chattree.errors import UpstreamError

DONE = "[DONE]"
LINE_END = re.compile(rb"\r\n|\r|\n")
BOM = b"\xef\xbb\xbf"
SHOWN = 300  # characters of upstream text quoted in an error message


def shorten(text: str, limit: int = SHOWN) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_message(body: object) -> str | None:
    """The message of an error object in any of the shapes OpenAI-compatible servers use."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, dict):
        message = error.get("message")
        return shorten(str(message if message else error))
    if isinstance(error, str) and error:
        return shorten(error)  # Ollama's native shape
    if body.get("object") == "error" and body.get("message"):
        return shorten(str(body["message"]))  # older vLLM
    if isinstance(body.get("detail"), str):
        return shorten(body["detail"])  # FastAPI-based proxies
    return None


class SSEParser:
    """Feed it the body's bytes as they arrive; it yields the chunk objects completed.

    Objects are yielded one by one, so those before a malformed event are delivered
    before the error is raised. After `data: [DONE]` it sets `done` and ignores the rest.
    """

    def __init__(self) -> None:
        self.done = False
        self._buffer = bytearray()
        self._data: list[str] = []
        self._first_line = True

    def feed(self, chunk: bytes) -> Iterator[dict[str, Any]]:
        self._buffer += chunk
        start = 0
        try:
            while not self.done:
                match = LINE_END.search(self._buffer, start)
                if match is None:
                    break
                if match.group() == b"\r" and match.end() == len(self._buffer):
                    break  # the "\n" of a "\r\n" may be the next chunk's first byte
                line = bytes(self._buffer[start : match.start()])
                start = match.end()
                if (parsed := self._line(line)) is not None:
                    yield parsed
        finally:
            del self._buffer[:start]

    def end(self) -> Iterator[dict[str, Any]]:
        """Call when the body has ended: dispatches an event missing only its blank line.

        An unterminated last line is dropped, as the SSE spec says: it may have been cut.
        """
        last = bytes(self._buffer)
        self._buffer.clear()
        if last.endswith(b"\r") and (parsed := self._line(last[:-1])) is not None:
            yield parsed
        if (parsed := self._line(b"")) is not None:
            yield parsed

    def _line(self, raw: bytes) -> dict[str, Any] | None:
        if self.done:
            return None
        if self._first_line:
            self._first_line = False
            raw = raw.removeprefix(BOM)
        if not raw:
            return self._dispatch()
        line = raw.decode("utf-8", errors="replace")
        if line.startswith(":"):
            return None  # a comment, such as a keep-alive
        name, colon, value = line.partition(":")
        if name == "data":
            self._data.append(value.removeprefix(" ") if colon else "")
        # event:, id: and retry: say nothing about the completion.
        return None

    def _dispatch(self) -> dict[str, Any] | None:
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data = []
        if data.strip() == DONE:
            self.done = True
            return None
        return parse_chunk(data) if data.strip() else None


def parse_chunk(data: str) -> dict[str, Any]:
    """One event's JSON object; an error object from upstream becomes UpstreamError."""
    try:
        chunk = orjson.loads(data)  # one per token: the fast parser first
    except orjson.JSONDecodeError:
        # What only the standard parser takes: a lone surrogate (stored as U+FFFD
        # later), NaN and Infinity, numbers past a double's range. (orjson reads an
        # integer past 64 bits as a float, which no count accepts.)
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):  # nested deeper than either parser goes
            chunk = None
    if not isinstance(chunk, dict):
        raise UpstreamError(f"model server sent a malformed chunk: {shorten(data, 120)!r}")
    message = error_message(chunk)
    if message is not None:
        raise UpstreamError(f"model server reported an error: {message}")
    return chunk

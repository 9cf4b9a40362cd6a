"""Reading a streamed chat completion: its deltas, why it finished, and its usage.

The reader owns the timeouts of a stream once its headers arrived: the first token, the
pauses between tokens, and the whole reply. aiohttp's exceptions become UpstreamError.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

import aiohttp

from chattree.errors import UpstreamError
from chattree.llm.sse import SSEParser, shorten
from chattree.llm.text import replace_unstorable
from chattree.llm.think import ThinkSplitter

CUT_STREAM = "model server closed the stream before finishing"
MAX_COUNT = 2**31 - 1  # tokens in one reported count


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts as the model server reported them."""

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True, slots=True)
class Delta:
    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None  # on the last Delta only, when the server reported it


@dataclass(frozen=True, slots=True)
class Deadlines:
    """Loop times and seconds that bound one stream."""

    first_token_at: float
    ends_at: float
    idle: float
    # The message of a timeout, told whether tokens flowed and whether the reply is overdue.
    late: Callable[[bool, bool], str]


async def read_deltas(
    response: aiohttp.ClientResponse, deadlines: Deadlines
) -> AsyncGenerator[Delta, None]:
    """The deltas of a streaming response; the caller closes the response."""
    loop = asyncio.get_running_loop()
    parser = SSEParser()
    splitter = ThinkSplitter()
    flowing = False  # a content or reasoning token has arrived
    finish_reason: str | None = None
    usage: Usage | None = None
    while not parser.done:
        deadline = loop.time() + deadlines.idle if flowing else deadlines.first_token_at
        try:
            async with asyncio.timeout_at(min(deadline, deadlines.ends_at)):
                data = await response.content.readany()
        except aiohttp.ClientError as exc:
            if finish_reason is not None:
                break  # the answer is whole; only usage and [DONE] went missing
            raise UpstreamError(CUT_STREAM) from exc
        except TimeoutError as exc:
            if finish_reason is not None:
                break
            raise UpstreamError(deadlines.late(flowing, loop.time() >= deadlines.ends_at)) from exc
        for chunk in parser.feed(data) if data else parser.end():
            usage = read_usage(chunk) or usage
            content, reasoning, finish = read_chunk(chunk)
            flowing = flowing or bool(content or reasoning)
            content, inline = splitter.feed(content) if content else ("", "")
            reasoning += inline
            if finish is not None and finish_reason is None:
                finish_reason = finish
                rest, more = splitter.flush()
                yield Delta(content + rest, reasoning + more, finish)
            elif content or reasoning:
                yield Delta(content, reasoning)
        if not data:
            break
    if not parser.done and finish_reason is None:
        raise UpstreamError(CUT_STREAM)
    content, reasoning = splitter.flush()
    if content or reasoning or usage is not None:
        yield Delta(content, reasoning, usage=usage)


def read_chunk(chunk: dict[str, Any]) -> tuple[str, str, str | None]:
    """(content, reasoning, finish_reason) of one chunk; role and usage chunks give none."""
    choices = chunk.get("choices")
    if not choices:
        return "", "", None
    choice = choices[0] if isinstance(choices, list) else None
    delta = (choice.get("delta") or {}) if isinstance(choice, dict) else None
    if not isinstance(choice, dict) or not isinstance(delta, dict):
        raise UpstreamError(f"model server sent a malformed chunk: {shorten(str(chunk), 120)!r}")
    content = delta.get("content") or ""
    # vLLM and DeepSeek say reasoning_content; OpenRouter and Ollama say reasoning.
    reasoning = delta.get("reasoning_content") or delta.get("reasoning") or ""
    finish = choice.get("finish_reason")
    if not (
        isinstance(content, str)
        and isinstance(reasoning, str)
        and (finish is None or isinstance(finish, str))
    ):
        raise UpstreamError(f"model server sent a malformed chunk: {shorten(str(chunk), 120)!r}")
    return replace_unstorable(content), replace_unstorable(reasoning), finish


def read_usage(chunk: dict[str, Any]) -> Usage | None:
    """The usage a chunk carries: OpenAI sends it on a last chunk without choices when
    asked (stream_options.include_usage), llama.cpp on the finishing chunk, vLLM with
    continuous usage stats on every chunk (the last one counts). Counts that are missing
    or not whole numbers, or past any reply's size, are no usage at all: nothing is made up."""
    usage = chunk.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt, completion = usage.get("prompt_tokens"), usage.get("completion_tokens")
    if not (is_count(prompt) and is_count(completion)):
        return None
    return Usage(prompt, completion)


def is_count(value: object) -> TypeGuard[int]:
    """A whole number of tokens that a reply could have: none comes near MAX_COUNT, and
    sums of counts this size stay far within the 64-bit columns that hold them."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT

"""The demo model server: a real OpenAI-compatible server on loopback, with no model.

`chattree demo` runs it beside the API, so a newcomer sees replies stream (reasoning
included) before installing a language model. It speaks the streaming protocol as
OpenAI does: a role chunk, content chunks, a finish_reason chunk, a usage chunk when
`stream_options.include_usage` asks for it, then `[DONE]`.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Self

from aiohttp import web

from chattree.demo.answer import Memory, answer, reasoning, title

DEMO_MODEL = "chattree-demo"
TOKENS_PER_SECOND = 30.0


class DemoModelServer:
    """Serves /v1/models and /v1/chat/completions on `sock` (a bound loopback socket)."""

    def __init__(self, sock: socket.socket, *, tokens_per_second: float = TOKENS_PER_SECOND):
        self.sock = sock
        self.tokens_per_second = tokens_per_second
        self.memory = Memory()
        self._runner: web.AppRunner | None = None

    @classmethod
    def on_free_port(cls, **options: Any) -> Self:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        return cls(sock, **options)

    @property
    def base_url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{host}:{port}/v1"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[DemoModelServer]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        # handler_cancellation: a client that hangs up (cancelGeneration) stops the stream.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None
        )
        await self._runner.setup()
        await web.SockSite(self._runner, self.sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self.sock.close()

    async def between_tokens(self, sent: int) -> None:
        """Paces the stream; `sent` tokens are out."""
        await asyncio.sleep(1 / self.tokens_per_second)

    async def _models(self, request: web.Request) -> web.Response:
        model = {"id": DEMO_MODEL, "object": "model", "created": 0, "owned_by": "chattree"}
        return web.json_response({"object": "list", "data": [model]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
            messages = body["messages"]
            model = str(body.get("model") or DEMO_MODEL)
            if not (isinstance(messages, list) and messages):
                raise TypeError
            if not all(isinstance(m, dict) for m in messages):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            error = {
                "message": "expected a JSON body with a non-empty list of messages",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
            return web.json_response({"error": error}, status=400)
        if not body.get("stream"):
            return web.json_response(completion(model, title(messages), messages))
        position = self.memory.place(messages)
        text = f"<think>{reasoning(position)}</think>\n\n{answer(position)}"
        usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return await self._stream(request, model, text, messages, usage=usage)

    async def _stream(
        self,
        request: web.Request,
        model: str,
        text: str,
        messages: list[dict[str, Any]],
        *,
        usage: bool,
    ) -> web.StreamResponse:
        chunk = Chunks(model, usage=usage)
        pieces = tokens(text)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(chunk.delta({"role": "assistant", "content": "", "refusal": None}))
        for sent, piece in enumerate(pieces):
            await self.between_tokens(sent)
            await response.write(chunk.delta({"content": piece}))
        await response.write(chunk.delta({}, finish_reason="stop"))
        if usage:
            await response.write(chunk.usage(count_tokens(messages), len(pieces)))
        await response.write(event("[DONE]"))
        await response.write_eof()
        return response


class Chunks:
    """The `chat.completion.chunk` objects of one stream, as OpenAI frames them."""

    def __init__(self, model: str, *, usage: bool) -> None:
        self.id = f"chatcmpl-{secrets.token_hex(12)}"
        self.created = int(time.time())
        self.model = model
        self.with_usage = usage

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        data = self._chunk([choice])
        if self.with_usage:
            data["usage"] = None  # null on every chunk but the last
        return event(data)

    def usage(self, prompt_tokens: int, completion_tokens: int) -> bytes:
        return event(self._chunk([]) | {"usage": usage(prompt_tokens, completion_tokens)})

    def _chunk(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": choices,
        }


def completion(model: str, content: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The answer to a request without `stream` (ChatTree asks for titles that way)."""
    message = {"role": "assistant", "content": content, "refusal": None}
    return {
        "id": f"chatcmpl-{secrets.token_hex(12)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": "stop"}],
        "usage": usage(count_tokens(messages), len(tokens(content))),
    }


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def event(data: object) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


TOKEN = re.compile(r"<think>|</think>|\s*[^\s<]+|\s+|<")


def tokens(text: str) -> list[str]:
    """Word-sized pieces with their leading whitespace; the think tags stand alone."""
    return TOKEN.findall(text)


def count_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(tokens(str(message.get("content", "")))) for message in messages)

"""The one stand-in of the test suite: a real HTTP server on loopback that speaks the
OpenAI chat-completions protocol (SSE streaming included) and can fail on demand."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Reply:
    """What the server answers to one streaming request."""

    content: str = "Hello there."
    reasoning: str | None = None
    think_tags: bool = False  # reasoning inline as <think>...</think>, tags cut across chunks
    delay: float = 0.0  # between chunks
    status: int = 200
    error_message: str = "model exploded"
    cut_after: int | None = None  # drop the connection after N content chunks
    malformed_after: int | None = None  # send `data: {not json` after N content chunks
    stall_after: int | None = None  # stop sending after N content chunks
    error_chunk_after: int | None = None  # send an {"error": ...} chunk after N chunks
    finish_reason: str = "stop"
    chunk_size: int = 3  # characters per content chunk


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


@dataclass
class FakeModelServer:
    models: list[str] = field(default_factory=lambda: ["test-model", "other-model"])
    # Keyed by the content of the request's last user message.
    replies: dict[str, Reply] = field(default_factory=dict)
    default_reply: Callable[[str], Reply] = lambda text: Reply(content=f"Echo: {text}")
    title: str = "A short title"
    title_status: int = 200
    models_status: int = 200
    api_key: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    models_requests: int = 0
    disconnects: int = 0
    active_streams: int = 0
    stream_started: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The streaming requests (replies), not the title requests."""
        return [r for r in self.requests if r.get("stream")]

    async def __aenter__(self) -> FakeModelServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for_stream(self, timeout: float = 10) -> None:
        """Until a streaming request has started (then resets for the next one)."""
        async with asyncio.timeout(timeout):
            await self.stream_started.wait()
        self.stream_started.clear()

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                {"error": {"message": "Invalid API key", "type": "invalid_request_error"}},
                status=401,
            )
        return None

    async def _models(self, request: web.Request) -> web.Response:
        self.models_requests += 1
        if denied := self._unauthorized(request):
            return denied
        if self.models_status != 200:
            return web.json_response(
                {"error": {"message": "models unavailable"}}, status=self.models_status
            )
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": m, "object": "model", "created": 1700000000, "owned_by": "test"}
                    for m in self.models
                ],
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if denied := self._unauthorized(request):
            return denied
        body = await request.json()
        self.requests.append(body)
        if not body.get("stream"):
            return self._completion(body)
        last_user = next(
            (m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), ""
        )
        reply = self.replies.get(last_user) or self.default_reply(last_user)
        if reply.status != 200:
            return web.json_response(
                {"error": {"message": reply.error_message, "type": "server_error"}},
                status=reply.status,
            )
        return await self._stream(request, body, reply)

    def _completion(self, body: dict[str, Any]) -> web.Response:
        if self.title_status != 200:
            return web.json_response({"error": {"message": "no titles"}}, status=self.title_status)
        return web.json_response(
            {
                "id": "chatcmpl-title",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.title},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
            }
        )

    async def _stream(
        self, request: web.Request, body: dict[str, Any], reply: Reply
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.active_streams += 1
        self.stream_started.set()
        model, created = body["model"], int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            data = {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            return f"data: {json.dumps(data)}\n\n".encode()

        finished = False
        try:
            await response.write(chunk({"role": "assistant", "content": ""}))
            frames: list[dict[str, Any]] = []
            if reply.reasoning and reply.think_tags:
                text = f"<think>{reply.reasoning}</think>\n\n{reply.content}"
                frames = [{"content": p} for p in pieces(text, reply.chunk_size)]
            else:
                if reply.reasoning:
                    frames += [
                        {"reasoning_content": p} for p in pieces(reply.reasoning, reply.chunk_size)
                    ]
                frames += [{"content": p} for p in pieces(reply.content, reply.chunk_size)]
            for index, frame in enumerate(frames):
                if index == reply.cut_after:
                    request.transport.close()  # type: ignore[union-attr]
                    return response
                if index == reply.malformed_after:
                    await response.write(b'data: {"choices": [{"delta": {"content": "x"\n\n')
                if index == reply.error_chunk_after:
                    error = {"error": {"message": reply.error_message}}
                    await response.write(f"data: {json.dumps(error)}\n\n".encode())
                if index == reply.stall_after:
                    await asyncio.sleep(3600)
                await response.write(chunk(frame))
                if reply.delay:
                    await asyncio.sleep(reply.delay)
            await response.write(chunk({}, reply.finish_reason))
            if (body.get("stream_options") or {}).get("include_usage"):
                usage = {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": model,
                    "choices": [],
                    "usage": {
                        "prompt_tokens": 5,
                        "completion_tokens": len(frames),
                        "total_tokens": 5 + len(frames),
                    },
                }
                await response.write(f"data: {json.dumps(usage)}\n\n".encode())
            await response.write(b"data: [DONE]\n\n")
            await response.write_eof()
            finished = True
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            raise
        finally:
            self.active_streams -= 1
            if not finished:
                self.disconnects += 1

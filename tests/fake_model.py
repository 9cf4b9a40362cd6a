"""The one stand-in of the test suite: a real HTTP server on loopback that speaks
OpenAI's chat-completions API byte for byte (SSE streaming included) and fails on demand.

    async with FakeModelServer() as fake:
        fake.replies["hi"] = Reply(content="Hello!", delay=0.05)
        ... point MODEL_BASE_URL at fake.base_url ...
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

# Seconds the wait_for_* helpers allow: a bound for a broken server, never a measure, so
# generous enough that a heavily loaded machine does not reach it.
WAIT = 30.0


class Gate:
    """Holds a stream's token chunks until the test lets them through: one at a time
    (`release`), or all that remain (`open`). Tests synchronise on it instead of on time.

    `sent` counts the chunks that passed.
    """

    def __init__(self, allowed: int = 0) -> None:
        self.allowed = allowed  # chunks that may pass without waiting
        self.opened = False
        self.sent = 0
        self._pulse = asyncio.Event()

    def release(self, n: int = 1) -> None:
        self.allowed += n
        self._changed()

    def open(self) -> None:
        self.opened = True
        self._changed()

    async def passage(self) -> None:
        """Waits for this chunk's turn."""
        while not (self.opened or self.sent < self.allowed):
            await self._wait()
        self.sent += 1
        self._changed()

    async def _wait(self) -> None:
        pulse = self._pulse
        await pulse.wait()

    def _changed(self) -> None:
        self._pulse.set()
        self._pulse = asyncio.Event()


@dataclass
class Reply:
    """How the server answers one streaming request.

    The `*_after` counts are token chunks (reasoning and content alike) sent before the
    failure; N may equal the number of chunks, which fails right before finish_reason.
    """

    content: str = "Hello there."
    reasoning: str | None = None  # sent before the content, in delta.<reasoning_field>
    reasoning_field: str = "reasoning_content"  # OpenRouter and Ollama say "reasoning"
    think_tags: bool = False  # send reasoning inline as "<think>...</think>", tags cut
    delay: float = 0.0  # seconds between chunks
    first_delay: float = 0.0  # seconds before the first token, as when a model loads
    status: int = 200  # non-200: an OpenAI error object with error_message
    error_message: str = "model exploded"
    status_times: int | None = None  # answer `status` this many times, then stream; None: always
    retry_after: str | None = None  # the Retry-After header of a non-200 answer
    cut_after: int | None = None  # drop the connection: no finish_reason, no [DONE]
    malformed_after: int | None = None  # send `data: {not json`
    stall_after: int | None = None  # send nothing more until the client goes away
    error_chunk_after: int | None = None  # send an {"error": ...} object mid-stream
    finish_reason: str = "stop"
    usage: bool = True  # False: no usage chunk even when the request asks for one
    send_done: bool = True  # False: end the body after finish_reason without [DONE]
    chunk_size: int | None = None  # characters per chunk; None: word-like tokens
    gate: Gate | None = None  # each token chunk waits for the gate first
    endless: bool = False  # after the content, repeat it every `delay` s until the client goes
    refused: int = field(default=0, init=False)  # non-200 answers given so far

    def could_have_sent(self, text: str) -> bool:
        """Whether `text` is a prefix of what this reply streams: its content, then for an
        endless reply that content again and again."""
        if not self.endless:
            return self.content.startswith(text)
        repeats = len(text) // max(len(self.content), 1) + 1
        return (self.content * repeats).startswith(text)

    def refuses(self) -> bool:
        """Whether this request gets `status` (counting it) rather than a stream."""
        if self.status == 200 or (
            self.status_times is not None and self.refused >= self.status_times
        ):
            return False
        self.refused += 1
        return True


def echo(last_user_message: str) -> Reply:
    return Reply(content=f"Echo: {last_user_message}")


def tokens(text: str) -> list[str]:
    """Word pieces with their leading space; long words are cut in two, as BPE does."""
    pieces: list[str] = []
    for word in re.findall(r"\s*\S+|\s+", text):
        if len(word.strip()) > 5:
            half = len(word) // 2
            pieces += [word[:half], word[half:]]
        else:
            pieces.append(word)
    return pieces


def fixed(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def openai_error(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def sse(data: object) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode()


@dataclass
class FakeModelServer:
    models: list[str] = field(default_factory=lambda: ["test-model", "other-model"])
    # Keyed by the content of the request's last user message.
    replies: dict[str, Reply] = field(default_factory=dict)
    # Requests that end with an assistant message (continuing it), by the same key.
    continuations: dict[str, Reply] = field(default_factory=dict)
    continuation: str = " and that is the rest."  # what other continuations write
    default_reply: Reply | Callable[[str], Reply] = echo
    title: str = "A short title"  # the answer to every non-streaming request
    title_status: int = 200
    models_status: int = 200
    api_key: str | None = None  # when set, requests without this Bearer token get 401
    # The context window of each model, and how the server reports it: "vllm"
    # (max_model_len in /v1/models), "llamacpp" (n_ctx in /props), "ollama" (model_info
    # in /api/show; with ollama_num_ctx, num_ctx in its parameters), or None: nowhere.
    contexts: dict[str, int] = field(default_factory=dict)
    context_report: str | None = None
    ollama_num_ctx: int | None = None
    port: int = 0  # 0: any free port; set once started

    requests: list[dict[str, Any]] = field(default_factory=list)  # chat bodies, in order
    models_requests: int = 0
    probe_requests: list[str] = field(default_factory=list)  # /props and /api/show paths
    streams_started: int = 0
    disconnects: int = 0  # streams whose client went away before the end
    active_streams: int = 0
    endless_chunks: int = 0  # chunks an endless reply sent after its first content
    stream_started: asyncio.Event = field(default_factory=asyncio.Event)

    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _pulse: asyncio.Event = field(default_factory=asyncio.Event, init=False, repr=False)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

    @property
    def chat_requests(self) -> list[dict[str, Any]]:
        """The streaming requests (replies), not the title requests."""
        return [body for body in self.requests if body.get("stream")]

    async def __aenter__(self) -> FakeModelServer:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/models", self._list_models)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/props", self._props)
        app.router.add_post("/api/show", self._show)
        # handler_cancellation: a client that hangs up cancels the handler, which is how
        # a stalled stream notices the disconnect.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=0.5, access_log=None
        )
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for_requests(self, n: int, timeout: float = WAIT) -> None:
        """Until at least n chat requests have been received."""
        await self._until(lambda: len(self.requests) >= n, timeout)

    async def wait_for_streams(self, n: int = 1, timeout: float = WAIT) -> None:
        """Until at least n streams have started (their headers and role chunk sent)."""
        await self._until(lambda: self.streams_started >= n, timeout)

    async def wait_for_disconnects(self, n: int = 1, timeout: float = WAIT) -> None:
        await self._until(lambda: self.disconnects >= n, timeout)

    async def wait_for_stream(self, timeout: float = WAIT) -> None:
        """Until a stream has started, then re-arms for the next one."""
        await asyncio.wait_for(self.stream_started.wait(), timeout)
        self.stream_started.clear()

    async def _until(self, done: Callable[[], bool], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while not done():
                await self._pulse.wait()

    def _changed(self) -> None:
        # Wakes every waiter at once; each re-checks its own condition.
        self._pulse.set()
        self._pulse = asyncio.Event()

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.api_key and request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response(
                openai_error(
                    "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
                ),
                status=401,
            )
        return None

    async def _list_models(self, request: web.Request) -> web.Response:
        self.models_requests += 1
        if (denied := self._denied(request)) is not None:
            return denied
        if self.models_status != 200:
            return web.json_response(
                openai_error("models are unavailable", "server_error"),
                status=self.models_status,
            )
        entries = []
        for name in self.models:
            entry: dict[str, Any] = {
                "id": name,
                "object": "model",
                "created": 1700000000,
                "owned_by": "fake",
            }
            if self.context_report == "vllm":
                entry |= {"owned_by": "vllm", "root": name, "parent": None}
                if name in self.contexts:
                    entry["max_model_len"] = self.contexts[name]
            entries.append(entry)
        return web.json_response({"object": "list", "data": entries})

    async def _props(self, request: web.Request) -> web.Response:
        """llama-server's /props: one model, its n_ctx."""
        self.probe_requests.append("/props")
        self._changed()
        if self.context_report != "llamacpp" or not self.contexts:
            return web.json_response({"detail": "Not Found"}, status=404)
        n_ctx = next(iter(self.contexts.values()))
        return web.json_response(
            {
                "default_generation_settings": {"n_ctx": n_ctx, "params": {"top_k": 40}},
                "total_slots": 1,
                "model_path": "/models/fake.gguf",
                "chat_template": "",
            }
        )

    async def _show(self, request: web.Request) -> web.Response:
        """Ollama's /api/show: the model's info and its Modelfile parameters."""
        self.probe_requests.append("/api/show")
        self._changed()
        name = (await request.json()).get("model")
        if self.context_report != "ollama" or name not in self.contexts:
            return web.json_response({"error": f"model '{name}' not found"}, status=404)
        parameters = 'stop "<|eot_id|>"'
        if self.ollama_num_ctx is not None:
            parameters += f"\nnum_ctx {self.ollama_num_ctx}"
        return web.json_response(
            {
                "modelfile": "FROM fake",
                "parameters": parameters,
                "details": {"format": "gguf", "family": "llama"},
                "model_info": {
                    "general.architecture": "llama",
                    "llama.context_length": self.contexts[name],
                },
            }
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        try:
            body = await request.json()
            messages = body["messages"]
            model = body["model"]
        except (ValueError, KeyError, TypeError):
            return web.json_response(
                openai_error(
                    "expected a JSON body with model and messages", "invalid_request_error"
                ),
                status=400,
            )
        self.requests.append(body)
        self._changed()
        if not body.get("stream"):
            return self._completion(model, messages)
        last_user = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        continuing = bool(messages) and messages[-1].get("role") == "assistant"
        reply = (self.continuations if continuing else self.replies).get(last_user)
        if reply is None and continuing:
            reply = Reply(content=self.continuation)
        if reply is None:
            default = self.default_reply
            reply = default if isinstance(default, Reply) else default(last_user)
        if reply.refuses():
            headers = {"Retry-After": reply.retry_after} if reply.retry_after is not None else {}
            return web.json_response(
                openai_error(reply.error_message, "server_error"),
                status=reply.status,
                headers=headers,
            )
        asked = bool((body.get("stream_options") or {}).get("include_usage"))
        usage = messages if asked and reply.usage else None
        return await self._stream(request, reply, model=model, usage=usage)

    def _completion(self, model: str, messages: list[dict[str, Any]]) -> web.Response:
        if self.title_status != 200:
            return web.json_response(
                openai_error("titles are unavailable", "server_error"), status=self.title_status
            )
        return web.json_response(
            {
                "id": f"chatcmpl-{secrets.token_hex(12)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": self.title, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": usage_of(messages, len(tokens(self.title))),
            }
        )

    async def _stream(
        self,
        request: web.Request,
        reply: Reply,
        *,
        model: str,
        usage: list[dict[str, Any]] | None,
    ) -> web.StreamResponse:
        """Streams `reply`; with `usage` (the request's messages), a usage chunk last."""
        ident, created = f"chatcmpl-{secrets.token_hex(12)}", int(time.time())

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
            data: dict[str, Any] = {
                "id": ident,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
                ],
            }
            if usage is not None:
                data["usage"] = None  # OpenAI's shape: null on every chunk but the last
            return sse(data)

        deltas: list[dict[str, Any]] = []
        if reply.reasoning and reply.think_tags:
            inline = f"<think>{reply.reasoning}</think>\n\n{reply.content}"
            # Three characters at a time cuts both tags across chunks.
            deltas = [{"content": p} for p in fixed(inline, reply.chunk_size or 3)]
        else:
            size = reply.chunk_size

            def split(text: str) -> list[str]:
                return tokens(text) if size is None else fixed(text, size)

            if reply.reasoning:
                deltas += [
                    {"content": None, reply.reasoning_field: p} for p in split(reply.reasoning)
                ]
            deltas += [{"content": p} for p in split(reply.content)]

        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        self.active_streams += 1
        self.streams_started += 1
        self.stream_started.set()
        self._changed()
        ended = False
        try:
            await response.write(chunk({"role": "assistant", "content": "", "refusal": None}))
            for index in range(len(deltas) + 1):
                if index == reply.cut_after:
                    ended = True  # the server's own doing, not a client disconnect
                    assert request.transport is not None
                    request.transport.abort()
                    return response
                if index == reply.malformed_after:
                    await response.write(b"data: {not json\n\n")
                if index == reply.error_chunk_after:
                    await response.write(sse(openai_error(reply.error_message, "server_error")))
                    await response.write(sse("[DONE]"))
                    ended = True
                    return response
                if index == reply.stall_after:
                    await asyncio.Event().wait()  # until the client hangs up
                if index == len(deltas) and reply.endless:
                    await self._forever(response, [chunk(delta) for delta in deltas], reply)
                if index == len(deltas):
                    break
                wait = reply.delay if index else reply.first_delay
                if wait:
                    await asyncio.sleep(wait)
                if reply.gate is not None:
                    await reply.gate.passage()
                await response.write(chunk(deltas[index]))
            await response.write(chunk({}, reply.finish_reason))
            if usage is not None:
                await response.write(
                    sse(
                        {
                            "id": ident,
                            "object": "chat.completion.chunk",
                            "created": created,
                            "model": model,
                            "system_fingerprint": "fp_fake",
                            "choices": [],
                            "usage": usage_of(usage, len(deltas)),
                        }
                    )
                )
            if reply.send_done:
                await response.write(sse("[DONE]"))
            await response.write_eof()
            ended = True
            return response
        finally:
            self.active_streams -= 1
            if not ended:
                self.disconnects += 1
            self._changed()

    async def _forever(
        self, response: web.StreamResponse, chunks: list[bytes], reply: Reply
    ) -> None:
        """Streams `chunks` over and over; only the client hanging up ends it."""
        self.endless_chunks = 0
        while True:
            for data in chunks:
                await asyncio.sleep(reply.delay)
                await response.write(data)
                self.endless_chunks += 1
                self._changed()


def usage_of(messages: list[dict[str, Any]], completion_tokens: int) -> dict[str, int]:
    prompt_tokens = sum(len(tokens(str(m.get("content", "")))) for m in messages)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }

"""The client for OpenAI-compatible model servers (Ollama, vLLM, llama.cpp, OpenAI,
Groq, OpenRouter...). aiohttp's exceptions are translated into UpstreamError here and
nowhere else."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from chattree.errors import UpstreamError
from chattree.llm.sse import DONE, SSEParser, error_message, parse_chunk
from chattree.llm.think import ThinkSplitter, split_think

READ_SIZE = 16 * 1024


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str
    content: str


@dataclass(frozen=True, slots=True)
class Delta:
    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float = 10.0
    first_token: float = 120.0
    idle: float = 60.0


def normalize_base_url(url: str) -> str:
    """Adds /v1 to a bare host ("http://host:11434"); any other path is kept as given."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path or "/v1", "", ""))


class ModelClient:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str = "",
        timeouts: Timeouts = Timeouts(),
        models_ttl: float = 30.0,
    ) -> None:
        self.session = session
        self.base_url = normalize_base_url(base_url)
        self.api_key = api_key
        self.timeouts = timeouts
        self.models_ttl = models_ttl
        self._models: tuple[float, list[str]] | None = None
        self._models_lock = asyncio.Lock()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _timeout(self, total: float | None = None) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=total, sock_connect=self.timeouts.connect, connect=self.timeouts.connect
        )

    async def list_models(self) -> list[str]:
        """Model ids the server offers; cached for `models_ttl` seconds."""
        async with self._models_lock:
            if self._models is not None and time.monotonic() - self._models[0] < self.models_ttl:
                return list(self._models[1])
            body = await self._get_json("/models")
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise UpstreamError("model server answered /models without a data list")
            names = [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
            self._models = (time.monotonic(), names)
            return list(names)

    async def complete(
        self, *, model: str, messages: Sequence[ChatMessage], max_tokens: int = 32
    ) -> str:
        """A short non-streamed answer, reasoning removed."""
        payload = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": False,
            "max_tokens": max_tokens,
        }
        body = await self._post_json("/chat/completions", payload)
        try:
            content = body["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            raise UpstreamError("model server answered without choices[0].message") from None
        return split_think(str(content))[0].strip()

    async def stream_chat(
        self, *, model: str, messages: Sequence[ChatMessage]
    ) -> AsyncIterator[Delta]:
        """The reply as it streams. Raises UpstreamError after yielding any partial text.
        Stopping early (aclose or cancellation) closes the connection, so the model server
        sees it and stops generating."""
        payload = {
            "model": model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        response = await self._request("POST", "/chat/completions", payload, stream=True)
        try:
            async for delta in self._deltas(response):
                yield delta
        finally:
            response.close()

    async def _deltas(self, response: aiohttp.ClientResponse) -> AsyncIterator[Delta]:
        parser = SSEParser()
        splitter = ThinkSplitter()
        finished = False
        started = False
        while True:
            limit = self.timeouts.idle if started else self.timeouts.first_token
            try:
                async with asyncio.timeout(limit):
                    chunk = await response.content.readany()
            except TimeoutError:
                what = "stalled for" if started else "sent no token within"
                raise UpstreamError(f"model server {what} {limit:g} s") from None
            except (aiohttp.ClientError, OSError) as exc:
                raise UpstreamError(f"model server connection failed: {describe(exc)}") from exc
            events = list(parser.feed(chunk)) if chunk else list(parser.close())
            for data in events:
                if data.strip() == DONE:
                    content, reasoning = splitter.flush()
                    if content or reasoning:
                        yield Delta(content, reasoning)
                    return
                delta = chunk_delta(parse_chunk(data), splitter)
                if delta is None:
                    continue
                if delta.content or delta.reasoning:
                    started = True
                finished = finished or delta.finish_reason is not None
                yield delta
            if not chunk:
                content, reasoning = splitter.flush()
                if content or reasoning:
                    yield Delta(content, reasoning)
                if not finished:
                    raise UpstreamError("model server closed the stream before finishing")
                return

    async def _get_json(self, path: str) -> Any:
        response = await self._request("GET", path, None, stream=False)
        return await self._json(response)

    async def _post_json(self, path: str, payload: dict[str, Any]) -> Any:
        response = await self._request("POST", path, payload, stream=False)
        return await self._json(response)

    async def _json(self, response: aiohttp.ClientResponse) -> Any:
        try:
            async with asyncio.timeout(self.timeouts.first_token):
                return await response.json(content_type=None)
        except TimeoutError:
            raise UpstreamError("model server did not answer in time") from None
        except (aiohttp.ClientError, json.JSONDecodeError, OSError) as exc:
            raise UpstreamError(f"model server sent an unreadable answer: {describe(exc)}") from exc
        finally:
            response.release()

    async def _request(
        self, method: str, path: str, payload: dict[str, Any] | None, *, stream: bool
    ) -> aiohttp.ClientResponse:
        url = self.base_url + path
        try:
            async with asyncio.timeout(self.timeouts.first_token):
                response = await self.session.request(
                    method,
                    url,
                    json=payload,
                    headers=self.headers,
                    timeout=self._timeout(),
                )
        except TimeoutError:
            raise UpstreamError(f"model server at {self.base_url} did not answer in time") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UpstreamError(
                f"cannot reach the model server at {self.base_url}: {describe(exc)}"
            ) from exc
        if response.status >= 400:
            try:
                text = await response.text(errors="replace")
            except (aiohttp.ClientError, OSError):
                text = ""
            finally:
                response.release()
            try:
                detail = error_message(json.loads(text))
            except json.JSONDecodeError:
                detail = text.strip()[:300] or response.reason or ""
            raise UpstreamError(f"model server answered HTTP {response.status}: {detail}")
        return response


def chunk_delta(chunk: dict[str, Any], splitter: ThinkSplitter) -> Delta | None:
    """The text of one chunk; None for chunks without any (role, usage)."""
    choices = chunk.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        return None
    choice = choices[0]
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        raise UpstreamError("model server sent a chunk whose delta is not an object")
    content, reasoning = splitter.feed(delta.get("content") or "")
    extra = delta.get("reasoning_content") or delta.get("reasoning") or ""
    finish = choice.get("finish_reason")
    if not (content or reasoning or extra or finish):
        return None
    return Delta(content, str(extra) + reasoning, finish)


def describe(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__

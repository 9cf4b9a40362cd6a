"""The client for OpenAI-compatible model servers (Ollama, vLLM, llama.cpp, LM Studio,
OpenAI, Groq, OpenRouter...).

This is the one place that knows aiohttp: its exceptions become UpstreamError here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from contextlib import aclosing, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from chattree.errors import UpstreamError
from chattree.llm.retry import (
    RETRYABLE_STATUSES,
    Retries,
    RetryableStatus,
    parse_retry_after,
    retrying,
)
from chattree.llm.sse import SSEParser, error_message, shorten
from chattree.llm.think import ThinkSplitter, split_think
from chattree.settings import Settings

CUT_STREAM = "model server closed the stream before finishing"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Delta:
    content: str = ""
    reasoning: str = ""
    finish_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds."""

    connect: float = 10.0
    first_token: float = 120.0  # from sending the request; covers loading the model
    idle: float = 60.0  # between two reads once tokens flow
    # A whole reply, from its request to its last token: a model that never stops (a
    # repetition loop, say) would otherwise hold a stream and its row forever.
    total: float = 600.0


def normalize_base_url(url: str) -> str:
    """Adds /v1 to a bare host, so Ollama's "http://host:11434" works as well as ".../v1";
    any other path is kept as given (Groq's ".../openai/v1", OpenRouter's ".../api/v1")."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


class ModelClient:
    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        base_url: str,
        api_key: str = "",
        timeouts: Timeouts = Timeouts(),  # frozen, so one shared default is safe
        retries: Retries | None = None,
        models_ttl: float = 30.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self._session = session
        self._base_url = normalize_base_url(base_url)
        self._api_key = api_key
        self.timeouts = timeouts
        self.retries = retries or Retries()
        self._models_ttl = models_ttl
        self._models: list[str] | None = None
        self._models_expire = 0.0
        self._models_fetch: asyncio.Task[list[str]] | None = None
        # Told "stream", "complete" or "models" each time such a request fails.
        self._on_error = on_error or (lambda request: None)

    @property
    def base_url(self) -> str:
        return self._base_url

    async def list_models(self) -> list[str]:
        """The ids the server offers, cached for `models_ttl` seconds."""
        if self._models is not None and time.monotonic() < self._models_expire:
            return list(self._models)
        if self._models_fetch is None:
            self._models_fetch = asyncio.create_task(self._fetch_models())
        # Shielded: callers share one request, and one caller giving up must not
        # cancel it for the others.
        return list(await asyncio.shield(self._models_fetch))

    async def complete(
        self, *, model: str, messages: Sequence[ChatMessage], max_tokens: int = 32
    ) -> str:
        """A short answer in one piece (titles), its reasoning removed."""
        with self._counting_errors("complete"):
            body = await self._request_json(
                "POST",
                "/chat/completions",
                chat_body(model, messages, stream=False, max_tokens=max_tokens),
                wait=self.timeouts.first_token,
            )
            try:
                content = body["choices"][0]["message"]["content"]
            except (KeyError, IndexError, TypeError):
                raise UpstreamError("model server answered without choices[0].message") from None
        # A reasoning model can spend all of max_tokens thinking and leave content null.
        if not isinstance(content, str):
            return ""
        return split_think(replace_unstorable(content))[0].strip()

    async def stream_chat(
        self, *, model: str, messages: Sequence[ChatMessage]
    ) -> AsyncGenerator[Delta, None]:
        """The answer as it is generated; the last Delta carries the finish_reason.

        A failure raises UpstreamError after whatever text came before it was yielded.
        Stopping early (aclose, or cancelling the consumer) drops the connection, which
        is how the model server learns to stop generating.
        """
        with self._counting_errors("stream"):
            async with aclosing(self._stream_chat(model, messages)) as deltas:
                async for delta in deltas:
                    yield delta

    @contextmanager
    def _counting_errors(self, request: str) -> Iterator[None]:
        try:
            yield
        except UpstreamError:
            self._on_error(request)
            raise

    async def _stream_chat(
        self, model: str, messages: Sequence[ChatMessage]
    ) -> AsyncGenerator[Delta, None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_token_at = started + min(self.timeouts.first_token, self.timeouts.total)
        ends_at = started + self.timeouts.total
        body = chat_body(model, messages, stream=True, stream_options={"include_usage": True})
        response = await retrying(
            lambda: self._send(
                "POST", "/chat/completions", body, deadline=first_token_at, late=self._no_token()
            ),
            self.retries,
            deadline=first_token_at,
        )
        parser = SSEParser()
        splitter = ThinkSplitter()
        flowing = False  # a content or reasoning token has arrived
        finish_reason: str | None = None
        ended = False
        try:
            while not parser.done:
                deadline = loop.time() + self.timeouts.idle if flowing else first_token_at
                try:
                    async with asyncio.timeout_at(min(deadline, ends_at)):
                        data = await response.content.readany()
                except aiohttp.ClientError as exc:
                    if finish_reason is not None:
                        break  # the answer is whole; only usage and [DONE] went missing
                    raise UpstreamError(CUT_STREAM) from exc
                except TimeoutError as exc:
                    if finish_reason is not None:
                        break
                    raise UpstreamError(
                        self._late(flowing, overdue=loop.time() >= ends_at)
                    ) from exc
                for chunk in parser.feed(data) if data else parser.end():
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
            if content or reasoning:
                yield Delta(content, reasoning)
            ended = True
        finally:
            if ended and (parser.done or response.content.at_eof()):
                response.release()
            else:
                # close(), not release(): the connection must drop for the server to
                # notice and stop generating.
                response.close()

    async def _fetch_models(self) -> list[str]:
        try:
            with self._counting_errors("models"):
                return await self._read_models()
        finally:
            self._models_fetch = None

    async def _read_models(self) -> list[str]:
        body = await self._request_json("GET", "/models", None, wait=self.timeouts.idle)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise UpstreamError("model server answered /models without a model list")
        models = [
            item["id"]
            for item in data
            if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]
        self._models = models
        self._models_expire = time.monotonic() + self._models_ttl
        return models

    async def _request_json(
        self, method: str, path: str, payload: dict[str, Any] | None, *, wait: float
    ) -> Any:
        """The JSON body of a 2xx answer that must arrive, whole, within `wait` seconds."""
        late = f"model server did not answer within {wait:g} s"
        deadline = asyncio.get_running_loop().time() + wait
        response = await retrying(
            lambda: self._send(method, path, payload, deadline=deadline, late=late),
            self.retries,
            deadline=deadline,
        )
        try:
            async with asyncio.timeout_at(deadline):
                raw = await response.read()
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"model server broke off its answer: {reason(exc)}") from exc
        except TimeoutError as exc:
            raise UpstreamError(late) from exc
        finally:
            response.release()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            text = shorten(raw.decode("utf-8", errors="replace"), 120)
            raise UpstreamError(
                f"model server answered something other than JSON: {text!r}"
            ) from exc
        message = error_message(body)
        if message is not None:
            raise UpstreamError(f"model server reported an error: {message}")
        return body

    async def _send(
        self,
        method: str,
        path: str,
        payload: dict[str, Any] | None,
        *,
        deadline: float,
        late: str,
    ) -> aiohttp.ClientResponse:
        """The response to one request, once its headers arrived with a 2xx status."""
        connect = self.timeouts.connect
        try:
            async with asyncio.timeout_at(deadline):
                response = await self._session.request(
                    method,
                    self._base_url + path,
                    json=payload,
                    headers={"Authorization": f"Bearer {self._api_key}"} if self._api_key else {},
                    # total=None overrides the session's default 5-minute total, which
                    # would cut long generations; reads are bounded by the caller. Only
                    # the socket connect is limited, not waiting for a pooled connection
                    # behind other streams: the caller's deadline bounds that.
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect),
                )
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"cannot reach the model server at {self._base_url}: {reason(exc, connect)}"
            ) from exc
        except TimeoutError as exc:
            raise UpstreamError(late) from exc
        if 200 <= response.status < 300:
            return response
        try:
            async with asyncio.timeout(self.timeouts.idle):
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            raw = b""
        finally:
            response.close()
        text = raw.decode("utf-8", errors="replace")
        try:
            detail = error_message(json.loads(text))
        except ValueError:
            detail = None
        detail = detail or shorten(text) or response.reason or ""
        status = f"model server answered HTTP {response.status}"
        message = f"{status}: {detail}" if detail else status
        if response.status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableStatus(message, retry_after=retry_after)
        raise UpstreamError(message)

    def _late(self, flowing: bool, *, overdue: bool) -> str:
        if overdue:
            return (
                f"the reply took longer than {self.timeouts.total:g} s "
                "(MODEL_MAX_REPLY_SECONDS) and was stopped"
            )
        return self._stalled() if flowing else self._no_token()

    def _no_token(self) -> str:
        return f"model server sent no token within {self.timeouts.first_token:g} s"

    def _stalled(self) -> str:
        return f"model server stalled for {self.timeouts.idle:g} s"


def create_model_client(
    settings: Settings,
    session: aiohttp.ClientSession,
    *,
    on_error: Callable[[str], None] | None = None,
) -> ModelClient:
    """The client of the configured model server, on the caller's HTTP session."""
    return ModelClient(
        session=session,
        base_url=settings.model_base_url,
        api_key=settings.model_api_key,
        timeouts=Timeouts(
            connect=settings.model_connect_timeout,
            first_token=settings.model_first_token_timeout,
            idle=settings.model_idle_timeout,
            total=settings.model_max_reply_seconds,
        ),
        on_error=on_error,
    )


def chat_body(model: str, messages: Sequence[ChatMessage], **options: Any) -> dict[str, Any]:
    """A /chat/completions request: the model, the messages, and `options` as given."""
    return {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        **options,
    }


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


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def replace_unstorable(text: str) -> str:
    """`text` without what no database text column holds: NUL, and the unpaired
    surrogates a JSON escape can produce. Each becomes U+FFFD, so a model that sends
    one can never make its reply unstorable."""
    return UNSTORABLE.sub("\ufffd", text)


def reason(exc: aiohttp.ClientError, connect: float | None = None) -> str:
    """Why a request failed, in words an operator can act on."""
    if isinstance(exc, aiohttp.ServerTimeoutError) and connect is not None:
        return f"no connection within {connect:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return exc.os_error.strerror or str(exc.os_error) or str(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return str(exc) or type(exc).__name__

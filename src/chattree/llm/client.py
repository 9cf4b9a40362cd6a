"""The client for OpenAI-compatible model servers (Ollama, vLLM, llama.cpp, LM Studio,
OpenAI, Groq, OpenRouter...).

This is the one place that knows aiohttp's requests: their exceptions become
UpstreamError here (and in `stream`, which reads a reply's body).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from chattree.errors import UpstreamError
from chattree.llm import probe
from chattree.llm.body import DEFAULT_SAMPLING, ChatMessage, Sampling, chat_body, continuing
from chattree.llm.retry import Retries, retrying
from chattree.llm.stream import Deadlines, Delta, read_deltas
from chattree.llm.text import replace_unstorable
from chattree.llm.think import split_think
from chattree.llm.transport import Transport
from chattree.settings import Settings

log = logging.getLogger(__name__)

# Asking a server about a model's context window never holds a prompt up longer than
# this, and never twice within CONTEXT_TTL.
PROBE_SECONDS = 3.0
CONTEXT_TTL = 300.0
NO_RETRIES = Retries(attempts=1)


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


def root_url(base_url: str) -> str:
    """The server beside its OpenAI-compatible API: llama.cpp's /props and Ollama's
    /api/show live there."""
    return base_url.removesuffix("/v1")


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
        self._base_url = normalize_base_url(base_url)
        self.timeouts = timeouts
        self._transport = Transport(
            session=session,
            base_url=self._base_url,
            api_key=api_key,
            connect=timeouts.connect,
            idle=timeouts.idle,
            retries=retries or Retries(),
        )
        self._models_ttl = models_ttl
        self._models: list[str] | None = None
        self._entries: dict[str, dict[str, Any]] = {}  # the /models entry of each id
        self._models_expire = 0.0
        self._models_fetch: asyncio.Task[list[str]] | None = None
        self._contexts = probe.ContextCache(self._probe_context, ttl=CONTEXT_TTL)
        # Whether the server is vLLM, which continues a reply only when asked to.
        self.vllm = False
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

    async def context_tokens(self, model: str) -> int | None:
        """The model's context window as the server reports it (see `probe`); None when
        it does not say or cannot be asked. Never raises, and answers within
        PROBE_SECONDS; what it learns is kept for CONTEXT_TTL."""
        return await self._contexts.get(model)

    def known_context_tokens(self, model: str) -> int | None:
        """What `context_tokens` learned last, without asking."""
        return self._contexts.peek(model)

    async def complete(
        self, *, model: str, messages: Sequence[ChatMessage], sampling: Sampling = DEFAULT_SAMPLING
    ) -> str:
        """A short answer in one piece (titles), its reasoning removed."""
        with self._counting_errors("complete"):
            body = await self._transport.request_json(
                "POST",
                self._base_url + "/chat/completions",
                chat_body(model, messages, sampling, stream=False),
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
        self, *, model: str, messages: Sequence[ChatMessage], sampling: Sampling = DEFAULT_SAMPLING
    ) -> AsyncGenerator[Delta, None]:
        """The answer as it is generated: a Delta carries the finish_reason, and the last
        one the usage when the server reported it. A trailing assistant message is
        continued (see `body`).

        A failure raises UpstreamError after whatever text came before it was yielded.
        Stopping early (aclose, or cancelling the consumer) drops the connection, which
        is how the model server learns to stop generating.
        """
        with self._counting_errors("stream"):
            if messages and messages[-1].role == "assistant" and self._models is None:
                await self._learn_server()
            options = continuing(messages, vllm=self.vllm)
            body = chat_body(
                model,
                messages,
                sampling,
                stream=True,
                stream_options={"include_usage": True},
                **options,
            )
            async for delta in self._stream(body):
                yield delta

    @contextmanager
    def _counting_errors(self, request: str) -> Iterator[None]:
        try:
            yield
        except UpstreamError:
            self._on_error(request)
            raise

    async def _stream(self, body: dict[str, Any]) -> AsyncGenerator[Delta, None]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        first_token_at = started + min(self.timeouts.first_token, self.timeouts.total)
        deadlines = Deadlines(
            first_token_at=first_token_at,
            ends_at=started + self.timeouts.total,
            idle=self.timeouts.idle,
            late=self._late,
        )
        response = await retrying(
            lambda: self._transport.send(
                "POST",
                self._base_url + "/chat/completions",
                body,
                deadline=first_token_at,
                late=self._no_token(),
            ),
            self._transport.retries,
            deadline=first_token_at,
        )
        ended = False
        try:
            async for delta in read_deltas(response, deadlines):
                yield delta
            ended = True
        finally:
            if ended and response.content.at_eof():
                response.release()
            else:
                # close(), not release(): the connection must drop for the server to
                # notice and stop generating.
                response.close()

    async def _learn_server(self) -> None:
        """Lists the models once, which tells whether the server is vLLM."""
        try:
            await self.list_models()
        except UpstreamError as exc:
            log.info("could not list the models before continuing a reply: %s", exc)

    async def _probe_context(self, model: str) -> int | None:
        try:
            async with asyncio.timeout(PROBE_SECONDS):
                return await self._ask_context(model)
        except (UpstreamError, TimeoutError) as exc:
            log.info("the model server did not say the context of %r: %s", model, exc)
        except Exception:
            # A probe is only a default: whatever goes wrong, prompts go on without it.
            log.exception("asking the context window of %r failed", model)
        return None

    async def _ask_context(self, model: str) -> int | None:
        with suppress(UpstreamError):
            await self.list_models()
        entry = self._entries.get(model)
        if entry is not None and (listed := probe.listed_context(entry)) is not None:
            return listed
        root = root_url(self._base_url)
        for method, path, payload, read in (
            ("GET", "/props", None, probe.props_context),
            ("POST", "/api/show", {"model": model}, probe.show_context),
        ):
            try:
                answer = await self._transport.request_json(
                    method, root + path, payload, wait=PROBE_SECONDS, retries=NO_RETRIES
                )
            except UpstreamError:
                continue
            if (found := read(answer)) is not None:
                return found
        return None

    async def _fetch_models(self) -> list[str]:
        try:
            with self._counting_errors("models"):
                return await self._read_models()
        finally:
            self._models_fetch = None

    async def _read_models(self) -> list[str]:
        body = await self._transport.request_json(
            "GET", self._base_url + "/models", None, wait=self.timeouts.idle
        )
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list):
            raise UpstreamError("model server answered /models without a model list")
        entries = [
            item for item in data if isinstance(item, dict) and isinstance(item.get("id"), str)
        ]
        models = [item["id"] for item in entries]
        self._entries = {item["id"]: item for item in entries}
        self.vllm = probe.is_vllm(entries)
        self._models = models
        self._models_expire = time.monotonic() + self._models_ttl
        return models

    def _late(self, flowing: bool, overdue: bool) -> str:
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

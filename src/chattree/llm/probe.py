"""What a model server says about the context window of a model.

Servers report it in their own places; each is read here:

- vLLM: `max_model_len` on each entry of GET /v1/models (its entries are also
  `owned_by: "vllm"`, which is how the client knows it talks to vLLM).
- OpenRouter and Groq: `context_length` / `context_window` on the same entries.
- llama.cpp's llama-server: GET /props (beside /v1, not under it), as
  `default_generation_settings.n_ctx`, or `n_ctx` in older builds.
- Ollama: POST /api/show {"model": ...}: `num_ctx` in `parameters` when the Modelfile
  sets it (that is the window Ollama runs with), else `<architecture>.context_length`
  in `model_info`, the length the model was trained for. Ollama fits over-long
  requests itself, so a too-generous default costs little there.

A server that reports none of these leaves MODEL_CONTEXT_TOKENS in force.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

LISTED_KEYS = ("max_model_len", "context_length", "context_window")


def listed_context(entry: dict[str, Any]) -> int | None:
    """The context window a /models entry states, if any."""
    for key in LISTED_KEYS:
        if (value := positive(entry.get(key))) is not None:
            return value
    return None


def is_vllm(entries: list[dict[str, Any]]) -> bool:
    return any(e.get("owned_by") == "vllm" or "max_model_len" in e for e in entries)


def props_context(body: Any) -> int | None:
    """llama-server's n_ctx from GET /props."""
    if not isinstance(body, dict):
        return None
    settings = body.get("default_generation_settings")
    if isinstance(settings, dict) and (value := positive(settings.get("n_ctx"))) is not None:
        return value
    return positive(body.get("n_ctx"))


def show_context(body: Any) -> int | None:
    """Ollama's window from POST /api/show."""
    if not isinstance(body, dict):
        return None
    parameters = body.get("parameters")
    if isinstance(parameters, str):
        for line in parameters.splitlines():
            name, _, value = line.strip().partition(" ")
            if name == "num_ctx" and value.strip().isdigit():
                return positive(int(value.strip()))
    info = body.get("model_info")
    if not isinstance(info, dict):
        return None
    architecture = info.get("general.architecture")
    return positive(info.get(f"{architecture}.context_length")) if architecture else None


def positive(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


class ContextCache:
    """What was learned per model, for `ttl` seconds; callers asking at once share one
    probe, and one giving up does not cancel it for the others."""

    def __init__(self, probe: Callable[[str], Awaitable[int | None]], *, ttl: float) -> None:
        self._probe = probe
        self._ttl = ttl
        self._known: dict[str, tuple[int | None, float]] = {}
        self._running: dict[str, asyncio.Task[int | None]] = {}

    def peek(self, model: str) -> int | None:
        """What is known now, without asking the server."""
        known = self._known.get(model)
        return known[0] if known is not None else None

    async def get(self, model: str) -> int | None:
        known = self._known.get(model)
        if known is not None and time.monotonic() < known[1]:
            return known[0]
        task = self._running.get(model)
        if task is None:
            task = asyncio.create_task(self._learn(model), name=f"context-probe-{model}")
            self._running[model] = task
        return await asyncio.shield(task)

    async def _learn(self, model: str) -> int | None:
        try:
            value = await self._probe(model)
            self._known[model] = (value, time.monotonic() + self._ttl)
            return value
        finally:
            self._running.pop(model, None)

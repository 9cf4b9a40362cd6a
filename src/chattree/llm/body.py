"""The body of a /chat/completions request: messages, sampling settings, and how a
reply is continued.

Continuing sends the partial reply as the last, assistant, message. Servers differ in
what they make of it:

- llama.cpp's llama-server (since May 2025, unless started with
  --no-prefill-assistant), Ollama, Anthropic's OpenAI-compatible API and OpenRouter
  (for models that support it) treat a trailing assistant message as a prefix: the
  model writes on from its last character.
- vLLM does only when asked, with `continue_final_message: true` and
  `add_generation_prompt: false`; otherwise its chat template opens a new assistant
  turn. Those two fields are sent only to a server known to be vLLM (its /models list
  says so), because OpenAI and Groq refuse fields they do not know.
- OpenAI itself has no prefix continuation: it answers the branch anew, and that answer
  is appended. Nothing in the request can change that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True, slots=True)
class Sampling:
    """Generation settings sent upstream; None leaves each to the model server."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None

    def fields(self) -> dict[str, Any]:
        values = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_tokens": self.max_tokens,
        }
        return {name: value for name, value in values.items() if value is not None}


DEFAULT_SAMPLING = Sampling()
VLLM_CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}


def chat_body(
    model: str,
    messages: Sequence[ChatMessage],
    sampling: Sampling = DEFAULT_SAMPLING,
    **options: Any,
) -> dict[str, Any]:
    """A /chat/completions request: the model, the messages, the sampling settings that
    are set, and `options` as given."""
    return {
        "model": model,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        **sampling.fields(),
        **options,
    }


def continuing(messages: Sequence[ChatMessage], *, vllm: bool) -> dict[str, Any]:
    """The fields that ask a server to continue the trailing assistant message."""
    if vllm and messages and messages[-1].role == "assistant":
        return dict(VLLM_CONTINUE)
    return {}

"""The model server: an aiohttp client for OpenAI-compatible chat completions."""

from chattree.llm.client import (
    ChatMessage,
    Delta,
    ModelClient,
    Timeouts,
    create_model_client,
    normalize_base_url,
)
from chattree.llm.retry import Retries
from chattree.llm.sse import SSEParser
from chattree.llm.think import ThinkSplitter, split_think

__all__ = [
    "ChatMessage",
    "Delta",
    "ModelClient",
    "Retries",
    "SSEParser",
    "ThinkSplitter",
    "Timeouts",
    "create_model_client",
    "normalize_base_url",
    "split_think",
]

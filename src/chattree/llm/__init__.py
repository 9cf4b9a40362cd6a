"""The model server: an aiohttp client for OpenAI-compatible chat completions."""

from chattree.llm.body import ChatMessage, Sampling
from chattree.llm.client import ModelClient, Timeouts, create_model_client, normalize_base_url
from chattree.llm.retry import Retries
from chattree.llm.sse import SSEParser
from chattree.llm.stream import Delta, Usage
from chattree.llm.think import ThinkSplitter, split_think

__all__ = [
    "ChatMessage",
    "Delta",
    "ModelClient",
    "Retries",
    "SSEParser",
    "Sampling",
    "ThinkSplitter",
    "Timeouts",
    "Usage",
    "create_model_client",
    "normalize_base_url",
    "split_think",
]

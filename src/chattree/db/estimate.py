"""The token estimate stored with every message, so that fitting a branch into the model's
context window reads only the messages it sends.

A tokenizer would be exact for one model and wrong for the next, and costs far more than
this. UTF-8 bytes / 4 is close for English with BPE tokenizers (about 4 characters a
token) and errs on the safe side for scripts that need more bytes per character, where
tokens are shorter too (CJK is about 1 token a character, 3 bytes). Each message also
costs a few tokens of chat-template framing (role markers, separators).
"""

from __future__ import annotations

from typing import Any

BYTES_PER_TOKEN = 4
TOKENS_PER_MESSAGE = 4


def estimate_tokens(content: str) -> int:
    # ceil(bytes / 4): a one-letter message still costs a token.
    return -(-len(content.encode("utf-8", "surrogatepass")) // BYTES_PER_TOKEN) + TOKENS_PER_MESSAGE


def estimate_of_inserted(context: Any) -> int:
    """Column default: the estimate of the row's content, for every kind of insert."""
    return estimate_tokens(context.get_current_parameters().get("content") or "")

"""The conversation tree: its writes, model choice, pages, and the caller's own rows."""

from __future__ import annotations

from chattree.services.conversations.branches import Branches
from chattree.services.conversations.controls import ModelControls
from chattree.services.conversations.models import choose_model, resolve_model
from chattree.services.conversations.owned import owned_conversation, owned_message
from chattree.services.conversations.pages import (
    MAX_CURSOR,
    MAX_PAGE,
    Page,
    decode_cursor,
    encode_cursor,
    parse_cursor,
)
from chattree.services.conversations.tree import (
    DEFAULT_SYSTEM_PROMPT,
    Conversations,
    PromptResult,
)
from chattree.services.titles import check_title

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "MAX_CURSOR",
    "MAX_PAGE",
    "Branches",
    "Conversations",
    "ModelControls",
    "Page",
    "PromptResult",
    "check_title",
    "choose_model",
    "decode_cursor",
    "encode_cursor",
    "owned_conversation",
    "owned_message",
    "parse_cursor",
    "resolve_model",
]

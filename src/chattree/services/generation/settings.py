"""A conversation's generation settings: checking them, what they default to, and the
budget they leave the branch in the context window.

Settings are stored per conversation; None means "the default": the model server's for
sampling, and for the context window what the server reports for the model, else
MODEL_CONTEXT_TOKENS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from chattree.db.models import Conversation
from chattree.env_values import MIN_CONTEXT_TOKENS
from chattree.errors import InvalidInput
from chattree.llm import ModelClient, Sampling
from chattree.settings import Settings

# Input names (as the API spells them) and the columns they set.
FIELDS = {
    "temperature": "temperature",
    "topP": "top_p",
    "maxTokens": "max_tokens",
    "contextTokens": "context_tokens",
}
TITLE_TOKENS = 32  # a title is short whatever maxTokens allows

Change = Mapping[str, float | int | None]  # only the fields given; None resets one


def check_change(change: Change) -> dict[str, float | int | None]:
    """The columns a settings input sets, or BAD_USER_INPUT naming the first bad field."""
    columns: dict[str, float | int | None] = {}
    for name, value in change.items():
        if name not in FIELDS:
            raise InvalidInput(f"unknown setting {name!r}", argument="settings")
        if value is not None:
            check_value(name, value)
        columns[FIELDS[name]] = value
    return columns


def check_value(name: str, value: float | int) -> None:
    if name == "temperature" and not 0 <= value <= 2:
        raise InvalidInput("temperature must be from 0 to 2", argument="settings.temperature")
    if name == "topP" and not 0 <= value <= 1:
        raise InvalidInput("topP must be from 0 to 1", argument="settings.topP")
    if name == "maxTokens" and value < 1:
        raise InvalidInput("maxTokens must be 1 or more", argument="settings.maxTokens")
    if name == "contextTokens" and value < MIN_CONTEXT_TOKENS:
        raise InvalidInput(
            f"contextTokens must be {MIN_CONTEXT_TOKENS} or more",
            argument="settings.contextTokens",
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInput(f"{name} must be a finite number", argument=f"settings.{name}")


def sampling(conversation: Conversation, *, title: bool = False) -> Sampling:
    """What a reply (or the title) of this conversation sends upstream."""
    max_tokens = conversation.max_tokens
    if title:
        max_tokens = min(max_tokens or TITLE_TOKENS, TITLE_TOKENS)
    return Sampling(conversation.temperature, conversation.top_p, max_tokens)


@dataclass(frozen=True, slots=True)
class Window:
    """The context window of one reply, in tokens, and how estimates map onto it."""

    context_tokens: int
    reply_tokens: int  # kept free for the reply
    ratio: float = 1.0  # reported prompt tokens per estimated token

    @property
    def budget(self) -> int:
        """Estimated tokens the messages sent may add up to."""
        return max(0, math.floor((self.context_tokens - self.reply_tokens) / self.ratio))


class Windows:
    """Context windows of conversations, with the defaults of this server."""

    def __init__(self, *, client: ModelClient, settings: Settings) -> None:
        self.client = client
        self.settings = settings

    async def prime(self, model: str) -> None:
        """Learns what the model server says of `model`'s window (bounded, never raises),
        so that `now` knows it: call it before a transaction, not inside one."""
        if model:
            await self.client.context_tokens(model)

    def context_tokens(self, stored: int | None, model: str) -> int:
        """The window in force: the stored setting, else what the server said of the
        model when last asked, else MODEL_CONTEXT_TOKENS."""
        if stored is not None:
            return stored
        reported = self.client.known_context_tokens(model) if model else None
        return reported or self.settings.model_context_tokens

    def now(self, conversation: Conversation, *, model: str | None = None) -> Window:
        """The window of a reply by `model` (default: the conversation's), from what is
        known now, without asking the model server."""
        context = self.context_tokens(conversation.context_tokens, model or conversation.model)
        return Window(
            context_tokens=context,
            reply_tokens=self.reply_tokens(conversation.max_tokens, context),
            ratio=conversation.token_ratio or 1.0,
        )

    async def of(self, conversation: Conversation, *, model: str | None = None) -> Window:
        """As `now`, having asked the model server first where nothing is stored."""
        if conversation.context_tokens is None:
            await self.prime(model or conversation.model)
        return self.now(conversation, model=model)

    def reply_tokens(self, max_tokens: int | None, context: int) -> int:
        """Room kept for the reply: maxTokens, else MODEL_REPLY_TOKENS while it leaves the
        prompt room, else half the window."""
        if max_tokens is not None:
            return max_tokens
        default = self.settings.model_reply_tokens
        return default if default < context else context // 2

    def check(self, conversation: Conversation) -> None:
        """BAD_USER_INPUT when maxTokens leaves no room for the prompt (prime first)."""
        if conversation.max_tokens is None:
            return
        context = self.context_tokens(conversation.context_tokens, conversation.model)
        if conversation.max_tokens >= context:
            raise InvalidInput(
                f"maxTokens ({conversation.max_tokens}) must be smaller than the context "
                f"window ({context} tokens): the prompt needs room",
                argument="settings.maxTokens",
            )

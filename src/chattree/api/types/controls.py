"""GraphQL types of model controls: token usage and generation settings."""

from __future__ import annotations

import strawberry

from chattree.db import models
from chattree.services.generation.settings import FIELDS, Change, Windows


@strawberry.type
class TokenUsage:
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> TokenUsage:
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )

    @classmethod
    def reported(
        cls, prompt_tokens: int | None, completion_tokens: int | None
    ) -> TokenUsage | None:
        """A reply's usage; None when the model server reported none."""
        if prompt_tokens is None or completion_tokens is None:
            return None
        return cls.of(prompt_tokens, completion_tokens)


@strawberry.type
class GenerationSettings:
    temperature: float | None = strawberry.field(description="null: the model server's default.")
    top_p: float | None
    max_tokens: int | None = strawberry.field(description="Longest reply, in tokens.")
    context_tokens: int = strawberry.field(
        description=(
            "The model's context window in tokens for this conversation (default: what the "
            "model server reports for the model, else the server's MODEL_CONTEXT_TOKENS); the "
            "branch sent to the model is trimmed to fit it with room for maxTokens."
        )
    )

    @classmethod
    async def of(cls, row: models.Conversation, windows: Windows) -> GenerationSettings:
        window = await windows.of(row)
        return cls(
            temperature=row.temperature,
            top_p=row.top_p,
            max_tokens=row.max_tokens,
            context_tokens=window.context_tokens,
        )


@strawberry.input(
    description=(
        "Fields left out keep their value (createConversation: the default); an explicit "
        "null resets one to the default. temperature 0 to 2, topP 0 to 1, maxTokens 1 or "
        "more and smaller than the context window, contextTokens 256 or more."
    )
)
class GenerationSettingsInput:
    temperature: float | None = strawberry.UNSET
    top_p: float | None = strawberry.UNSET
    max_tokens: int | None = strawberry.UNSET
    context_tokens: int | None = strawberry.UNSET

    def change(self) -> Change:
        """The fields given, by their GraphQL names."""
        values = {
            "temperature": self.temperature,
            "topP": self.top_p,
            "maxTokens": self.max_tokens,
            "contextTokens": self.context_tokens,
        }
        assert set(values) == set(FIELDS)
        return {name: value for name, value in values.items() if value is not strawberry.UNSET}

"""GraphQL types of accounts and of what the server offers."""

from __future__ import annotations

from datetime import datetime

import strawberry

from chattree.api.types.controls import TokenUsage
from chattree.db import models


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    personality: str | None = strawberry.field(
        description="Free text appended to the default system prompt of new conversations."
    )
    created_at: datetime
    usage: TokenUsage = strawberry.field(
        description="Sums over every reply of every conversation of the user."
    )

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(str(row.id)),
            username=row.username,
            personality=row.personality,
            created_at=row.created_at,
            usage=TokenUsage.of(row.prompt_tokens, row.completion_tokens),
        )


@strawberry.type
class AuthPayload:
    token: str = strawberry.field(description="A signed JWT for the Authorization header.")
    user: User


@strawberry.type
class Model:
    id: strawberry.ID

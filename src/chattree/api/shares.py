"""GraphQL types of share links: the owner's view of a link, and what anyone holding
its token reads."""

from __future__ import annotations

from datetime import datetime

import strawberry

from chattree.api.enums import Role, graphql_enum
from chattree.db import models


@strawberry.type
class Share:
    id: strawberry.ID
    token: str = strawberry.field(
        description=(
            "Unguessable (256 random bits); anyone holding it can read the shared branch "
            "without logging in."
        )
    )
    conversation_id: strawberry.ID
    message_id: strawberry.ID = strawberry.field(
        description=(
            "The last message of the shared branch: readers see the path from the root to "
            "it (the root's system prompt left out), never another branch."
        )
    )
    created_at: datetime
    expires_at: datetime | None = strawberry.field(description="null: until revoked.")

    @classmethod
    def from_row(cls, row: models.Share, *, token: str) -> Share:
        return cls(
            id=strawberry.ID(str(row.id)),
            token=token,
            conversation_id=strawberry.ID(str(row.conversation_id)),
            message_id=strawberry.ID(str(row.message_id)),
            created_at=row.created_at,
            expires_at=row.expires_at,
        )


@strawberry.type
class SharedMessage:
    role: Role
    content: str
    reasoning: str | None
    model: str | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: models.Message) -> SharedMessage:
        return cls(
            role=graphql_enum(row.role),
            content=row.content,
            reasoning=row.reasoning,
            model=row.model,
            created_at=row.created_at,
        )


@strawberry.type
class SharedBranch:
    title: str
    shared_at: datetime
    messages: list[SharedMessage]

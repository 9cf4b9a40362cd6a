"""GraphQL enums shared by several types."""

from __future__ import annotations

from enum import Enum, StrEnum
from typing import Any

import strawberry


@strawberry.enum
class Role(Enum):
    SYSTEM = strawberry.enum_value(
        "SYSTEM", description="The system prompt, at the root of every conversation."
    )
    USER = strawberry.enum_value("USER", description="What the user wrote.")
    ASSISTANT = strawberry.enum_value("ASSISTANT", description="What the model answered.")


@strawberry.enum
class MessageStatus(Enum):
    COMPLETE = strawberry.enum_value("COMPLETE", description="Stored and final.")
    STREAMING = strawberry.enum_value(
        "STREAMING", description="The model is producing this message right now."
    )
    FAILED = strawberry.enum_value(
        "FAILED", description="The model server failed; `error` says why; partial content is kept."
    )
    CANCELLED = strawberry.enum_value(
        "CANCELLED", description="Stopped by cancelGeneration; partial content is kept."
    )
    INTERRUPTED = strawberry.enum_value(
        "INTERRUPTED",
        description=(
            "The server stopped while generating; partial content up to the last flush is kept."
        ),
    )


def graphql_enum(member: StrEnum) -> Any:
    """A stored enum as a GraphQL enum field's value: its plain string, which graphql-core
    serializes with one dict lookup. A member of the GraphQL enum's own class would go
    through strawberry's scan of every member's `.value` (7 µs a field, the largest part
    of a message's cost on a long branch). The stored enums are StrEnums whose values are
    the GraphQL names."""
    return str(member)

"""GraphQL enums shared by several types."""

from __future__ import annotations

from enum import Enum

import strawberry

from chattree.db import models

Role = strawberry.enum(models.Role, name="Role")


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

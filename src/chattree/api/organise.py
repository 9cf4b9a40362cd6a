"""Mutation: organising conversations (archive, pin, rename in one call)."""

from __future__ import annotations

import strawberry

from chattree.api.context import Info
from chattree.api.ids import require_id
from chattree.api.types import Conversation


@strawberry.type
class OrganiseMutation:
    @strawberry.mutation(
        description=(
            "Changes any of the given fields; the others stay. Title: same rules as "
            "renameConversation."
        )
    )
    async def update_conversation(
        self,
        info: Info,
        id: strawberry.ID,
        title: str | None = None,
        archived: bool | None = None,
        pinned: bool | None = None,
    ) -> Conversation:
        caller = await info.context.user()
        row = await info.context.services.conversations.update(
            user_id=caller.id,
            conversation_id=require_id(id, what="conversation"),
            title=title,
            archived=archived,
            pinned=pinned,
        )
        return Conversation.from_row(row)

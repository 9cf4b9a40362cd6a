"""Query: the caller, models, conversations and messages."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from chattree.api.context import Info
from chattree.api.ids import parse_id, require_id
from chattree.api.portability import export_conversation
from chattree.api.shares import SharedBranch, SharedMessage
from chattree.api.types import (
    Conversation,
    ConversationConnection,
    ConversationEdge,
    Message,
    Model,
    PageInfo,
    User,
    messages,
)
from chattree.errors import NotFound
from chattree.services.conversations import encode_cursor


@strawberry.type
class Query:
    @strawberry.field(description="The caller.")
    async def me(self, info: Info) -> User:
        return User.from_row(await info.context.user())

    @strawberry.field(description="Models the configured model server offers.")
    async def models(self, info: Info) -> list[Model]:
        await info.context.user()
        names = await info.context.services.client.list_models()
        return [Model(id=strawberry.ID(name)) for name in names]

    @strawberry.field(
        description=(
            "The caller's conversations: pinned ones first, then newest updatedAt first. "
            "Archived ones only with archived: true (and then only those)."
        )
    )
    async def conversations(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        archived: bool | None = False,
    ) -> ConversationConnection:
        user = await info.context.user()
        page = await info.context.services.conversations.page(
            user_id=user.id,
            first=20 if first is None else first,
            after=after,
            archived=bool(archived),
        )
        edges = [
            ConversationEdge(cursor=encode_cursor(row), node=Conversation.from_row(row))
            for row in page.conversations
        ]
        return ConversationConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None
            ),
        )

    @strawberry.field
    async def conversation(self, info: Info, id: strawberry.ID) -> Conversation | None:
        await info.context.user()
        conversation_id = parse_id(id)
        if conversation_id is None:
            return None
        row = await info.context.loaders.conversation.load(conversation_id)
        return Conversation.from_row(row) if row is not None else None

    @strawberry.field
    async def message(self, info: Info, id: strawberry.ID) -> Message | None:
        await info.context.user()
        message_id = parse_id(id)
        if message_id is None:
            return None
        row = await info.context.loaders.message.load(message_id)
        return Message.from_row(row) if row is not None else None

    @strawberry.field(description="Direct children of a message, oldest first.")
    async def children(self, info: Info, id: strawberry.ID) -> list[Message]:
        await info.context.user()
        message_id = require_id(id, what="message")
        if await info.context.loaders.message.load(message_id) is None:
            raise NotFound(f"no message with id {id}")
        return messages(await info.context.loaders.children.load(message_id))

    export_conversation: JSON = strawberry.field(
        resolver=export_conversation,
        description=(
            "One conversation as a JSON value in the given format (the whole tree, every branch)."
        ),
    )

    @strawberry.field(
        description=(
            "The branch behind a share token, for anyone: no Authorization needed. null when "
            "the token is unknown, revoked or expired, or its message was deleted (the same "
            "answer for all)."
        )
    )
    async def shared_branch(self, info: Info, token: str) -> SharedBranch | None:
        shared = await info.context.services.shares.read(
            token=token, client=info.context.client_address
        )
        if shared is None:
            return None
        return SharedBranch(
            title=shared.title,
            shared_at=shared.shared_at,
            messages=[SharedMessage.from_row(row) for row in shared.messages],
        )

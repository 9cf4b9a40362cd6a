"""GraphQL object types. They are not ORM rows: `from_row` copies what a row holds, and
fields that reach other rows go through the request's DataLoaders. A row that another
request deleted between two levels of a selection answers NOT_FOUND (null where the
field is nullable), like an id that never existed."""

from __future__ import annotations

from datetime import datetime

import strawberry

from chattree.api.context import Info
from chattree.api.enums import MessageStatus, Role
from chattree.api.ids import require_id
from chattree.api.shares import Share
from chattree.db import models
from chattree.errors import InvalidInput, NotFound


@strawberry.type
class User:
    id: strawberry.ID
    username: str
    personality: str | None = strawberry.field(
        description="Free text appended to the default system prompt of new conversations."
    )
    created_at: datetime

    @classmethod
    def from_row(cls, row: models.User) -> User:
        return cls(
            id=strawberry.ID(str(row.id)),
            username=row.username,
            personality=row.personality,
            created_at=row.created_at,
        )


@strawberry.type
class AuthPayload:
    token: str = strawberry.field(description="A signed JWT for the Authorization header.")
    user: User


@strawberry.type
class Model:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Message:
    id: strawberry.ID
    conversation_id: strawberry.ID
    parent_id: strawberry.ID | None
    role: Role  # type: ignore[valid-type]
    content: str
    reasoning: str | None = strawberry.field(
        description=(
            "Model reasoning kept apart from content "
            "(<think>...</think> or a reasoning field upstream)."
        )
    )
    status: MessageStatus
    error: str | None
    model: str | None = strawberry.field(description="The model that wrote an assistant message.")
    depth: int = strawberry.field(description="0 for the root.")
    created_at: datetime
    row_id: strawberry.Private[int]
    parent_row_id: strawberry.Private[int | None]
    conversation_row_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: models.Message) -> Message:
        return cls(
            id=strawberry.ID(str(row.id)),
            conversation_id=strawberry.ID(str(row.conversation_id)),
            parent_id=strawberry.ID(str(row.parent_id)) if row.parent_id is not None else None,
            role=row.role,
            content=row.content,
            reasoning=row.reasoning,
            status=MessageStatus(row.status.value),
            error=row.error,
            model=row.model,
            depth=row.depth,
            created_at=row.created_at,
            row_id=row.id,
            parent_row_id=row.parent_id,
            conversation_row_id=row.conversation_id,
        )

    @strawberry.field
    async def conversation(self, info: Info) -> Conversation:
        row = await info.context.loaders.conversation.load(self.conversation_row_id)
        if row is None:
            raise NotFound(f"no conversation with id {self.conversation_id}")
        return Conversation.from_row(row)

    @strawberry.field
    async def parent(self, info: Info) -> Message | None:
        if self.parent_row_id is None:
            return None
        row = await info.context.loaders.message.load(self.parent_row_id)
        return Message.from_row(row) if row is not None else None

    @strawberry.field(description="Direct children, oldest first.")
    async def children(self, info: Info) -> list[Message]:
        return messages(await info.context.loaders.children.load(self.row_id))

    @strawberry.field
    async def child_count(self, info: Info) -> int:
        return await info.context.loaders.child_count.load(self.row_id)

    @strawberry.field(
        description="1-based position among the parent's children, oldest first (1 for the root)."
    )
    async def sibling_index(self, info: Info) -> int:
        if self.parent_row_id is None:
            return 1
        siblings = [row.id for row in await info.context.loaders.children.load(self.parent_row_id)]
        if self.row_id not in siblings:
            raise NotFound(f"no message with id {self.id}")
        return 1 + siblings.index(self.row_id)

    @strawberry.field(description="Number of children of the parent (1 for the root).")
    async def sibling_count(self, info: Info) -> int:
        if self.parent_row_id is None:
            return 1
        return await info.context.loaders.child_count.load(self.parent_row_id)

    @strawberry.field(description="The root, every ancestor, then this message.")
    async def path(self, info: Info) -> list[Message]:
        return await path_to(info, self.row_id)

    @strawberry.field(
        description=(
            "Every descendant, shallowest first, down to maxDepth levels below this message "
            "(null: all levels)."
        )
    )
    async def descendants(self, info: Info, max_depth: int | None = None) -> list[Message]:
        if max_depth is not None and max_depth < 0:
            raise InvalidInput("maxDepth must be 0 or more", argument="maxDepth")
        return messages(await info.context.loaders.descendants(max_depth).load(self.row_id))


@strawberry.type
class Conversation:
    id: strawberry.ID
    title: str
    model: str
    created_at: datetime
    updated_at: datetime = strawberry.field(
        description="Time of the newest message; conversations are listed newest first by this."
    )
    row_id: strawberry.Private[int]
    current_row_id: strawberry.Private[int | None]
    forked_from_row_id: strawberry.Private[int | None]

    @classmethod
    def from_row(cls, row: models.Conversation) -> Conversation:
        return cls(
            id=strawberry.ID(str(row.id)),
            title=row.title,
            model=row.model,
            created_at=row.created_at,
            updated_at=row.updated_at,
            row_id=row.id,
            current_row_id=row.current_message_id,
            forked_from_row_id=row.forked_from_id,
        )

    @strawberry.field(
        description=(
            "The message this conversation was forked from; null when it is not a fork or "
            "that message no longer exists."
        )
    )
    async def forked_from(self, info: Info) -> Message | None:
        if self.forked_from_row_id is None:
            return None
        row = await info.context.loaders.message.load(self.forked_from_row_id)
        return Message.from_row(row) if row is not None else None

    @strawberry.field(
        description=(
            "The caller's live (unexpired, unrevoked) share links of this conversation, "
            "newest first. Tokens are stored hashed: here `token` is empty; only "
            "createShare's answer holds it."
        )
    )
    async def shares(self, info: Info) -> list[Share]:
        rows = await info.context.loaders.shares.load(self.row_id)
        return [Share.from_row(row, token="") for row in rows]

    @strawberry.field(description="The system-prompt message at the top of the tree.")
    async def root(self, info: Info) -> Message:
        row = await info.context.loaders.root.load(self.row_id)
        if row is None:
            raise NotFound(f"no conversation with id {self.id}")
        return Message.from_row(row)

    @strawberry.field(description="Every message of the tree, the root included.")
    async def message_count(self, info: Info) -> int:
        return await info.context.loaders.message_count.load(self.row_id)

    @strawberry.field(
        description=(
            "The messages of one branch, root first. Without `through`: the branch that ends "
            "at the newest message of the conversation. With `through`: the branch that ends "
            "at the newest message among `through` and its descendants (so it contains "
            "`through`)."
        )
    )
    async def branch(self, info: Info, through: strawberry.ID | None = None) -> list[Message]:
        loaders = info.context.loaders
        if through is None:
            return await path_to(info, await self._newest(info))
        start = require_id(through, what="message")
        row = await loaders.message.load(start)
        if row is None or row.conversation_id != self.row_id:
            raise NotFound(f"no message with id {through} in conversation {self.id}")
        end = await loaders.newest_below.load(start)
        if end is None:
            raise NotFound(f"no message with id {through} in conversation {self.id}")
        return await path_to(info, end)

    @strawberry.field(
        description=(
            "Every message of the conversation, oldest first; with parentId a client "
            "rebuilds the whole tree from one request."
        )
    )
    async def messages(self, info: Info) -> list[Message]:
        return messages(await info.context.loaders.messages.load(self.row_id))

    @strawberry.field(
        description=(
            "The message the user is on (like ChatGPT's current_node), kept on the server so "
            "a reload or another device lands on the same branch. It moves to the new reply "
            "on prompt and regenerate, and to wherever selectBranch points."
        )
    )
    async def current_message_id(self, info: Info) -> strawberry.ID:
        return strawberry.ID(str(await self._current(info)))

    @strawberry.field(description="The path from the root to currentMessageId.")
    async def current_branch(self, info: Info) -> list[Message]:
        return await path_to(info, await self._current(info))

    async def _current(self, info: Info) -> int:
        if self.current_row_id is not None:
            return self.current_row_id
        return await self._newest(info)

    async def _newest(self, info: Info) -> int:
        newest = await info.context.loaders.newest_in_conversation.load(self.row_id)
        if newest is None:
            raise NotFound(f"no conversation with id {self.id}")
        return newest


@strawberry.type
class ConversationEdge:
    cursor: str
    node: Conversation


@strawberry.type
class ConversationConnection:
    edges: list[ConversationEdge]
    page_info: PageInfo


@strawberry.type
class PromptPayload:
    conversation: Conversation
    user_message: Message
    assistant_message: Message = strawberry.field(
        description=(
            "The reply; STREAMING until the model finishes (subscribe to messageStream), "
            "unless wait was true."
        )
    )


@strawberry.type
class MessageEvent:
    message_id: strawberry.ID
    delta: str = strawberry.field(
        description=(
            "Text appended to content. The FIRST event of every subscription carries "
            "everything generated so far, so concatenating the deltas of one subscription "
            "always gives the stored content, whenever the client subscribed or re-subscribed."
        )
    )
    reasoning_delta: str = strawberry.field(description="Same rule as delta, for reasoning.")
    status: MessageStatus
    done: bool = strawberry.field(
        description="True on the last event; the subscription then completes."
    )
    error: str | None


def messages(rows: list[models.Message]) -> list[Message]:
    return [Message.from_row(row) for row in rows]


async def path_to(info: Info, message_id: int) -> list[Message]:
    """The root, every ancestor, then the message."""
    rows = await info.context.loaders.path.load(message_id)
    if rows is None:
        raise NotFound(f"no message with id {message_id}")
    return messages(rows)

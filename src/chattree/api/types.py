"""GraphQL object types. They are not ORM rows: `from_row` copies what a row holds, and
fields that reach other rows go through the request's DataLoaders. A row that another
request deleted between two levels of a selection answers NOT_FOUND (null where the
field is nullable), like an id that never existed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from chattree.api.context import Info
from chattree.api.enums import MessageStatus, Role, graphql_enum
from chattree.api.ids import require_id
from chattree.api.shares import Share
from chattree.db import models
from chattree.db.tree import MessageRecord, Newest
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
    role: Role
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
    context_message_count: int | None = strawberry.field(
        description=(
            "How many messages of the branch, the root included, were sent to the model for "
            "this reply after fitting the context window; null for user and system messages."
        )
    )
    row_id: strawberry.Private[int]
    parent_row_id: strawberry.Private[int | None]
    conversation_row_id: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: MessageRecord) -> Message:
        return cls(
            id=strawberry.ID(str(row.id)),
            conversation_id=strawberry.ID(str(row.conversation_id)),
            parent_id=strawberry.ID(str(row.parent_id)) if row.parent_id is not None else None,
            role=graphql_enum(row.role),
            content=row.content,
            reasoning=row.reasoning,
            status=graphql_enum(row.status),
            error=row.error,
            model=row.model,
            depth=row.depth,
            created_at=row.created_at,
            context_message_count=row.context_message_count,
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

    @strawberry.field(
        description=(
            "The root, every ancestor, then this message. `last` and `before` page it as "
            "Conversation.branch does."
        )
    )
    async def path(
        self, info: Info, last: int | None = None, before: strawberry.ID | None = None
    ) -> list[Message]:
        return await page_of(info, self.conversation_row_id, self.row_id, last, before)

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
    archived: bool = strawberry.field(
        description="Archived conversations are left out of `conversations` unless asked for."
    )
    pinned: bool = strawberry.field(
        description="Pinned conversations come first in `conversations`."
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
            archived=row.archived,
            pinned=row.pinned,
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
            "`through`). Paging a long branch upwards: `last` (1 to 1000) keeps only its last "
            "`last` messages; `before`, a message of the branch, ends the page just above it "
            "(the page is then `before`'s ancestors). Each page is still root first; pass the "
            "first message of one page as `before` to get the page above it."
        )
    )
    async def branch(
        self,
        info: Info,
        through: strawberry.ID | None = None,
        last: int | None = None,
        before: strawberry.ID | None = None,
    ) -> list[Message]:
        if through is None:
            end = (await self._newest(info)).id
        else:
            start = (await message_in(info, self.row_id, through, "through")).row_id
            found = await info.context.loaders.newest_below.load(start)
            if found is None:
                raise NotFound(f"no message with id {through} in conversation {self.id}")
            end = found
        return await page_of(info, self.row_id, end, last, before)

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

    @strawberry.field(
        description=(
            "The path from the root to currentMessageId; `last` and `before` page it as "
            "branch does."
        )
    )
    async def current_branch(
        self, info: Info, last: int | None = None, before: strawberry.ID | None = None
    ) -> list[Message]:
        return await page_of(info, self.row_id, await self._current(info), last, before)

    @strawberry.field(
        description="Messages of the newest branch (its depth + 1), without reading the branch."
    )
    async def branch_length(self, info: Info) -> int:
        return (await self._newest(info)).depth + 1

    async def _current(self, info: Info) -> int:
        if self.current_row_id is not None:
            return self.current_row_id
        return (await self._newest(info)).id

    async def _newest(self, info: Info) -> Newest:
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


def messages(rows: Sequence[MessageRecord]) -> list[Message]:
    return [Message.from_row(row) for row in rows]


MAX_PAGE = 1000


async def page_of(
    info: Info,
    conversation_id: int,
    end: int,
    last: int | None,
    before: strawberry.ID | None,
) -> list[Message]:
    """The path from the root to `end`, root first; with `last`, only its last `last`
    messages; with `before` (a message of that path), only the part above it.

    A page is one walk up of at most `last` steps from where it ends, so its cost does
    not depend on the depth of the branch. The part above `before` is the path of
    `before`'s parent: it is the same for every branch through `before`, so a client
    scrolling up a branch keeps its place even when the conversation has moved on."""
    if last is not None and not 1 <= last <= MAX_PAGE:
        raise InvalidInput(f"last must be 1 to {MAX_PAGE}", argument="last")
    if before is not None:
        above = await message_in(info, conversation_id, before, "before")
        if above.parent_row_id is None:
            return []
        end = above.parent_row_id
    rows = await info.context.loaders.path(last).load(end)
    if rows is None:
        raise NotFound(f"no message with id {end}")
    return messages(rows)


async def message_in(
    info: Info, conversation_id: int, message_id: strawberry.ID, argument: str
) -> Message:
    """The caller's message `message_id` of this conversation, or NOT_FOUND."""
    row_id = require_id(message_id, what="message")
    row = await info.context.loaders.message.load(row_id)
    if row is None or row.conversation_id != conversation_id:
        raise NotFound(
            f"{argument}: no message with id {message_id} in conversation {conversation_id}"
        )
    return Message.from_row(row)

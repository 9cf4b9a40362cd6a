"""GraphQL types of conversations, their pages and the payload of a prompt."""

from __future__ import annotations

from datetime import datetime

import strawberry

from chattree.api.context import Info
from chattree.api.shares import Share
from chattree.api.types.controls import GenerationSettings, TokenUsage
from chattree.api.types.messages import Message, message_in, messages, page_of
from chattree.db import models
from chattree.db.tree import Newest
from chattree.errors import NotFound


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Conversation:
    id: strawberry.ID
    title: str
    model: str
    created_at: datetime
    updated_at: datetime = strawberry.field(
        description="Time of the newest message; conversations are listed newest first by this."
    )
    usage: TokenUsage = strawberry.field(description="Sums over every reply of the tree.")
    archived: bool = strawberry.field(
        description="Archived conversations are left out of `conversations` unless asked for."
    )
    pinned: bool = strawberry.field(
        description="Pinned conversations come first in `conversations`."
    )
    row_id: strawberry.Private[int]
    current_row_id: strawberry.Private[int | None]
    forked_from_row_id: strawberry.Private[int | None]
    row: strawberry.Private[models.Conversation]

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
            usage=TokenUsage.of(row.prompt_tokens, row.completion_tokens),
            row_id=row.id,
            current_row_id=row.current_message_id,
            forked_from_row_id=row.forked_from_id,
            row=row,
        )

    @strawberry.field
    async def settings(self, info: Info) -> GenerationSettings:
        return await GenerationSettings.of(self.row, info.context.services.controls.windows)

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

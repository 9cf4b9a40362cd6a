"""GraphQL types of messages: a node of the tree, its live events, and pages of a branch.

Like every type here they are not ORM rows: `from_row` copies what a row holds, and
fields that reach other rows go through the request's DataLoaders. A row that another
request deleted between two levels of a selection answers NOT_FOUND (null where the
field is nullable), like an id that never existed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from chattree.api.context import Info
from chattree.api.enums import MessageStatus, Role, graphql_enum
from chattree.api.ids import require_id
from chattree.api.shared_events import SharedResults, plain_fields
from chattree.api.types.controls import TokenUsage
from chattree.db.tree import MessageRecord
from chattree.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from chattree.api.types.conversations import Conversation


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
    usage: TokenUsage | None = strawberry.field(
        description=(
            "Token counts the model server reported for this reply; null when it reported "
            "none, and for user and system messages."
        )
    )
    finish_reason: str | None = strawberry.field(
        description=(
            "Why the model stopped, as it reported: stop, length, content_filter, ...; null "
            "while STREAMING or when not reported."
        )
    )
    rating: int | None = strawberry.field(
        description="The caller's rating of a reply: 1 good, -1 bad, null none."
    )
    feedback: str | None
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
            usage=TokenUsage.reported(row.prompt_tokens, row.completion_tokens),
            finish_reason=row.finish_reason,
            rating=row.rating,
            feedback=row.feedback,
            row_id=row.id,
            parent_row_id=row.parent_id,
            conversation_row_id=row.conversation_id,
        )

    @strawberry.field
    async def conversation(
        self, info: Info
    ) -> Annotated[Conversation, strawberry.lazy("chattree.api.types.conversations")]:
        from chattree.api.types.conversations import Conversation

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


@plain_fields  # its results are shared by its subscribers (api/shared_events.py)
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
    # Results of executing this event, shared by the operations that asked the same.
    shared_results: strawberry.Private[SharedResults | None] = None


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

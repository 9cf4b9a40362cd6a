"""GraphQL side of search: hits, their page, and the search query."""

from __future__ import annotations

import strawberry

from chattree.api.context import Info
from chattree.api.ids import require_id
from chattree.api.types import Message, PageInfo
from chattree.errors import NotFound


@strawberry.type
class SearchHit:
    message: Message
    snippet: str = strawberry.field(
        description=(
            "An excerpt of the message around its best match (at most about 200 characters), "
            "each matched term wrapped in <mark> and </mark>; the rest is the message's text "
            "as is."
        )
    )
    score: float = strawberry.field(description="Higher is better; hits come best first.")


@strawberry.type
class SearchHitEdge:
    cursor: str
    node: SearchHit


@strawberry.type
class SearchConnection:
    edges: list[SearchHitEdge]
    page_info: PageInfo


@strawberry.type
class SearchQuery:
    @strawberry.field(
        description=(
            "Full-text search over every message of every branch of the caller's "
            "conversations\n(archived ones included), best match first, and over titles. "
            "Words match by their stem\n(running ~ runs), case and accents do not matter; "
            '"quoted phrases", -excluded words and\nOR work. `conversationId` limits it to '
            "one conversation. A hit's message has its\nconversation and path, so a client "
            "can selectBranch to it."
        )
    )
    async def search(
        self,
        info: Info,
        query: str,
        first: int | None = 20,
        after: str | None = None,
        conversation_id: strawberry.ID | None = None,
    ) -> SearchConnection:
        caller = await info.context.user()
        scope = None
        if conversation_id is not None:
            scope = require_id(conversation_id, what="conversation")
            if await info.context.loaders.conversation.load(scope) is None:
                raise NotFound(f"no conversation with id {conversation_id}")
        page = await info.context.services.search.page(
            user_id=caller.id,
            text=query,
            first=20 if first is None else first,
            after=after,
            conversation_id=scope,
        )
        rows = await info.context.loaders.message.load_many(
            [found.hit.message_id for found in page.hits]
        )
        edges = [
            SearchHitEdge(
                cursor=found.cursor,
                node=SearchHit(
                    message=Message.from_row(row), snippet=found.snippet, score=found.hit.score
                ),
            )
            for found, row in zip(page.hits, rows, strict=True)
            # Deleted between the search and this read.
            if row is not None
        ]
        return SearchConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                end_cursor=page.hits[-1].cursor if page.hits else None,
            ),
        )

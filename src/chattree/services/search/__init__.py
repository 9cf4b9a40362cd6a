"""Full-text search over the caller's messages and titles, a page at a time."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from chattree.db import search
from chattree.db.engine import Database
from chattree.db.search import Hit
from chattree.errors import InvalidInput
from chattree.services.search import snippets
from chattree.services.search.query import parse

MAX_PAGE: Final = 100
MAX_CURSOR: Final = 200

__all__ = ["Found", "Search", "SearchPage"]


@dataclass(frozen=True, slots=True)
class Found:
    hit: Hit
    snippet: str
    cursor: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    hits: list[Found]
    has_next: bool


class Search:
    def __init__(self, *, db: Database) -> None:
        self.db = db

    async def page(
        self,
        *,
        user_id: int,
        text: str,
        first: int,
        after: str | None,
        conversation_id: int | None,
    ) -> SearchPage:
        if not 1 <= first <= MAX_PAGE:
            raise InvalidInput(f"first must be 1 to {MAX_PAGE}", argument="first")
        query = parse(text)
        scope = _scope(text, conversation_id)
        offset = 0 if after is None else _decode(after, scope)
        async with self.db.reader() as session:
            found = await search.hits(
                session,
                query,
                user_id=user_id,
                conversation_id=conversation_id,
                limit=first + 1,
                offset=offset,
            )
            page = found[:first]
            marked = await search.marked(
                session, query, page, open=snippets.OPEN, close=snippets.CLOSE
            )
            texts = await search.texts(session, page)
        hits = []
        for position, hit in enumerate(page, start=offset + 1):
            words = snippets.matched_words(marked.get((hit.source, hit.message_id), ""))
            excerpt = snippets.snippet(texts.get((hit.source, hit.message_id), ""), words)
            hits.append(Found(hit, excerpt, _encode(position, scope)))
        return SearchPage(hits, has_next=len(found) > first)


# Cursors hold the position of a hit in the order of one query: a cursor of another
# query (or conversation) is refused rather than answered with an unrelated page.


def _scope(text: str, conversation_id: int | None) -> str:
    return hashlib.sha256(f"{conversation_id}|{text}".encode()).hexdigest()[:12]


def _encode(position: int, scope: str) -> str:
    return base64.urlsafe_b64encode(f"search:{scope}:{position}".encode()).decode()


def _decode(cursor: str, scope: str) -> int:
    position = None
    if len(cursor) <= MAX_CURSOR:
        try:
            kind, given, number = base64.urlsafe_b64decode(cursor).decode().split(":")
        except (ValueError, binascii.Error):
            kind = given = number = ""
        if kind == "search" and given == scope and number.isascii() and number.isdigit():
            position = int(number)
    if position is None or position > 1_000_000:
        raise InvalidInput(
            "after is not a cursor of this search (same query and conversationId)",
            argument="after",
        )
    return position

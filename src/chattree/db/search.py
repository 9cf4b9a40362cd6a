"""Full-text search SQL: FTS5 on SQLite, tsvector on PostgreSQL (both built by migration
0006). Message texts and conversation titles are searched together; a title's hit is
reported on the conversation's root message. Only the caller's rows are ever read.

Hits come best first: -bm25() on SQLite (bm25 is lower for better matches), ts_rank()
on PostgreSQL; ties newest first.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from chattree.db.models import Conversation, Message

# Objects the migration made that the models do not describe (see alembic/env.py).
SEARCH_TABLES: Final = ("messages_fts", "conversations_fts")
SEARCH_COLUMN: Final = "search_vector"
SEARCH_INDEXES: Final = ("ix_messages_search", "ix_conversations_search")

CONFIG: Final = "'english'::regconfig"


def folded(column: str) -> str:
    """The PostgreSQL expression the index is built on (migration 0006)."""
    return f"regexp_replace(normalize({column}, NFD), '[\\u0300-\\u036f]', '', 'g')"


@dataclass(frozen=True, slots=True)
class Term:
    text: str


@dataclass(slots=True)
class Query:
    # Every group must match; a group matches when any of its terms does.
    groups: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)

    @property
    def terms(self) -> list[Term]:
        return [term for group in self.groups for term in group] + self.excluded


def fold(text: str) -> str:
    """Without accents, as the PostgreSQL index folds them (NFD, marks dropped)."""
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not "\u0300" <= c <= "\u036f")


def fts5(query: Query) -> str:
    """The query in FTS5's syntax: every term a quoted string, the operators its own."""

    def quoted(term: Term) -> str:
        return '"' + term.text.replace('"', '""') + '"'

    groups = [
        quoted(group[0]) if len(group) == 1 else "(" + " OR ".join(map(quoted, group)) + ")"
        for group in query.groups
    ]
    return " AND ".join(groups) + "".join(f" NOT {quoted(term)}" for term in query.excluded)


@dataclass(frozen=True, slots=True)
class Hit:
    message_id: int
    score: float
    # "message": the message's text matched; "title": its conversation's title did.
    source: str
    conversation_id: int


def excluded_from_models(name: str | None, type_: str) -> bool:
    """True for the search objects, which autogenerate must neither drop nor compare."""
    if type_ == "table":
        return name is not None and name.startswith(SEARCH_TABLES)
    if type_ == "column":
        return name == SEARCH_COLUMN
    if type_ == "index":
        return name in SEARCH_INDEXES
    return False


async def hits(
    session: AsyncSession,
    query: Query,
    *,
    user_id: int,
    conversation_id: int | None,
    limit: int,
    offset: int,
) -> list[Hit]:
    params: dict[str, Any] = {"user": user_id, "limit": limit, "offset": offset}
    scope = ""
    if conversation_id is not None:
        scope = " AND c.id = :conversation"
        params["conversation"] = conversation_id
    if session.get_bind().dialect.name == "postgresql":
        matches, score_of = _tsquery(query, params), "ts_rank({vector}, {matches})"
        message_score = score_of.format(vector="m.search_vector", matches=matches)
        title_score = score_of.format(vector="c.search_vector", matches=matches)
        message_match = f"m.search_vector @@ {matches}"
        title_match = f"c.search_vector @@ {matches}"
        message_from = "messages m"
        title_from = "conversations c"
    else:
        params["q"] = fts5(query)
        message_score, title_score = "-bm25(messages_fts)", "-bm25(conversations_fts)"
        message_match, title_match = "messages_fts MATCH :q", "conversations_fts MATCH :q"
        message_from = "messages_fts JOIN messages m ON m.id = messages_fts.rowid"
        title_from = "conversations_fts JOIN conversations c ON c.id = conversations_fts.rowid"
    statement = f"""
        SELECT id, score, source, conversation_id FROM (
            SELECT m.id AS id, {message_score} AS score, 'message' AS source,
                   m.conversation_id AS conversation_id
            FROM {message_from} JOIN conversations c ON c.id = m.conversation_id
            WHERE {message_match} AND c.user_id = :user{scope}
            UNION ALL
            SELECT r.id, {title_score}, 'title', c.id
            FROM {title_from}
            JOIN messages r ON r.conversation_id = c.id AND r.parent_id IS NULL
            WHERE {title_match} AND c.user_id = :user{scope}
        ) AS found
        ORDER BY score DESC, source, id DESC
        LIMIT :limit OFFSET :offset
    """
    rows = await session.execute(text(statement), params)
    return [Hit(row.id, float(row.score), row.source, row.conversation_id) for row in rows]


async def marked(
    session: AsyncSession, query: Query, found: Sequence[Hit], *, open: str, close: str
) -> dict[tuple[str, int], str]:
    """The matched text of each hit with every matched word between `open` and `close`,
    keyed by (source, message id)."""
    marked: dict[tuple[str, int], str] = {}
    for source, table, column, key in (
        ("message", "messages", "content", "message_id"),
        ("title", "conversations", "title", "conversation_id"),
    ):
        ids = {getattr(hit, key): hit.message_id for hit in found if hit.source == source}
        if not ids:
            continue
        params: dict[str, Any] = {"ids": list(ids), "open": open, "close": close}
        if session.get_bind().dialect.name == "postgresql":
            options = "'HighlightAll=true, StartSel=' || :open || ', StopSel=' || :close"
            statement = (
                f"SELECT id, ts_headline({CONFIG}, {folded(column)}, "
                f"{_tsquery(query, params)}, {options}) AS marked "
                f"FROM {table} WHERE id IN :ids"
            )
        else:
            params["q"] = fts5(query)
            fts = f"{table}_fts"
            statement = (
                f"SELECT rowid AS id, highlight({fts}, 0, :open, :close) AS marked "
                f"FROM {fts} WHERE {fts} MATCH :q AND rowid IN :ids"
            )
        rows = await session.execute(
            text(statement).bindparams(bindparam("ids", expanding=True)), params
        )
        for row in rows:
            marked[(source, ids[row.id])] = row.marked
    return marked


def _tsquery(query: Query, params: dict[str, Any]) -> str:
    """A tsquery of `query`, each term read by websearch_to_tsquery as a quoted phrase
    and the terms combined with tsquery's own operators, so that OR, AND and NOT group
    exactly as on SQLite. Values go in as bound parameters."""

    def term(text_: str) -> str:
        name = f"t{len(params)}"
        params[name] = '"' + fold(text_) + '"'
        return f"websearch_to_tsquery({CONFIG}, :{name})"

    groups = ["(" + " || ".join(term(t.text) for t in group) + ")" for group in query.groups]
    excluded = [f"!! {term(t.text)}" for t in query.excluded]
    return "(" + " && ".join(groups + excluded) + ")"


async def texts(session: AsyncSession, found: Sequence[Hit]) -> dict[tuple[str, int], str]:
    """The stored text each hit matched: the message's content, or its title."""
    messages = [hit.message_id for hit in found if hit.source == "message"]
    titles = {hit.conversation_id: hit.message_id for hit in found if hit.source == "title"}
    result: dict[tuple[str, int], str] = {}
    if messages:
        rows = await session.execute(
            select(Message.id, Message.content).where(Message.id.in_(messages))
        )
        result.update({("message", id_): content for id_, content in rows})
    if titles:
        rows = await session.execute(
            select(Conversation.id, Conversation.title).where(Conversation.id.in_(titles))
        )
        result.update({("title", titles[id_]): title for id_, title in rows})
    return result

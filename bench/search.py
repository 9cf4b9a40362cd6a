"""#12: full-text search over 100,000 messages of one user. `Search.page` (the service
behind the `search` query: hits, ranking, snippets of the first 20) for a rare word, a
common word, a phrase, and a word with an exclusion, against a plain indexed lookup
(the newest 20 messages of one conversation by `ix_messages_conversation`) in the same
rounds. Rows are written through the triggers (SQLite) and the generated column
(PostgreSQL), as the server writes them."""

from __future__ import annotations

import random
import time

from sqlalchemy import select

from bench import scratch_database
from bench.report import Result
from bench.rows import analyze
from bench.suite import Benchmark
from chattree.db.engine import Database, create_database
from chattree.db.migrate import upgrade
from chattree.db.models import Conversation, Message, Role, User
from chattree.db.portability import NewMessage, insert_tree
from chattree.db.types import utcnow
from chattree.services.search import Search
from chattree.settings import Settings

WORDS = (
    "tree",
    "branch",
    "message",
    "reply",
    "model",
    "token",
    "stream",
    "cursor",
    "index",
    "query",
    "search",
    "result",
    "page",
    "garden",
    "river",
    "mountain",
    "coffee",
    "window",
    "paper",
    "music",
    "travel",
    "planet",
    "engine",
    "kitchen",
    "story",
)
PER_CONVERSATION = 100
BATCH = 1000
QUERIES = {
    "rare word": "zeppelin",
    "common word": "garden",
    "phrase": '"river mountain"',
    "word -exclusion": "coffee -window",
}


def text(rng: random.Random, index: int) -> str:
    words = rng.choices(WORDS, k=30)
    if index % 10_000 == 0:
        words.append("zeppelin")
    return " ".join(words)


async def fill(db: Database, messages: int) -> tuple[int, int]:
    """One user's `messages` messages, in conversations of 100 (a chain each): (user id,
    the id of one conversation)."""
    rng = random.Random(11)
    now = utcnow()
    async with db.transaction() as session:
        user = User(username="searcher", password="plain$x", token_version=0)
        session.add(user)
        await session.flush()
        user_id = user.id
    first_conversation = 0
    written = 0
    while written < messages:
        # Stored as an import stores them: one multi-row INSERT per conversation.
        async with db.transaction() as session:
            for _ in range(BATCH // PER_CONVERSATION):
                conversation = Conversation(
                    user_id=user_id, title=" ".join(rng.choices(WORDS, k=4)), model="m"
                )
                session.add(conversation)
                await session.flush()
                first_conversation = first_conversation or conversation.id
                rows = [
                    NewMessage(
                        parent=None if depth == 0 else depth - 1,
                        role=Role.SYSTEM if depth == 0 else Role.USER,
                        content=text(rng, written + depth),
                        created_at=now,
                    )
                    for depth in range(PER_CONVERSATION)
                ]
                await insert_tree(session, conversation=conversation, rows=rows)
                written += PER_CONVERSATION
    return user_id, first_conversation


async def lookup(db: Database, conversation_id: int) -> None:
    async with db.reader() as session:
        found = await session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(20)
        )
        assert len(list(found)) == 20


async def run(result: Result, kind: str, smoke: bool) -> None:
    messages = 2_000 if smoke else 100_000
    rounds = 3 if smoke else 20
    async with scratch_database(kind) as url:
        db = create_database(Settings(db_url=url))
        try:
            await upgrade(db)
            began = time.perf_counter()
            user_id, conversation_id = await fill(db, messages)
            result.note(
                f"{kind}: wrote {messages:,} messages in {time.perf_counter() - began:.0f} s"
            )
            if kind == "postgres":
                await analyze(db)
            search = Search(db=db)
            samples: dict[str, list[float]] = {"indexed lookup": [], **{q: [] for q in QUERIES}}
            hits: dict[str, int] = {}
            for round_ in range(rounds + 1):  # the first round warms up
                start = time.perf_counter()
                await lookup(db, conversation_id)
                seconds = {"indexed lookup": time.perf_counter() - start}
                for case, query in QUERIES.items():
                    start = time.perf_counter()
                    page = await search.page(
                        user_id=user_id, text=query, first=20, after=None, conversation_id=None
                    )
                    seconds[case] = time.perf_counter() - start
                    hits[case] = len(page.hits)
                    assert page.hits, f"{case}: nothing found"
                    assert all("<mark>" in found.snippet for found in page.hits), case
                if round_:
                    for case, value in seconds.items():
                        samples[case].append(value)
            result.timings("indexed lookup", samples, db=kind, messages=messages)
            result.note(f"{kind}: hits on the first page: {hits}")
        finally:
            await db.dispose()


SEARCH = Benchmark(
    12,
    "search",
    "search 100,000 messages (first page, ranked, with snippets)",
    "a word, a phrase or an exclusion over 100,000 messages in <= 100 ms",
    run,
)

"""conversationEvents as the tests read it: the document, and a reader of one
subscription over a websocket."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

from chattree.db import events
from chattree.db.engine import create_database
from chattree.services.events import encode_event_cursor
from chattree.settings import Settings
from tests import ws
from tests.harness import Client

EVENTS: Final = """
subscription($after: String) {
  conversationEvents(after: $after) {
    cursor kind conversationId messageId at
    conversation { id title archived pinned currentMessageId }
    message { id role status content }
  }
}
"""


class Events:
    """The events of one conversationEvents subscription, read on demand."""

    def __init__(self, operation: ws.Operation) -> None:
        self.operation = operation

    async def next(self, timeout: float = ws.TIMEOUT) -> dict[str, Any]:
        data = await self.operation.next(timeout)
        assert data is not None, "conversationEvents completed; it never should"
        event: dict[str, Any] = data["conversationEvents"]
        return event

    async def take(self, count: int) -> list[dict[str, Any]]:
        return [await self.next() for _ in range(count)]


@asynccontextmanager
async def following(
    url: str, token: str, after: str | None, *, protocol: str = ws.TRANSPORT_WS
) -> AsyncIterator[Events]:
    """Subscribes on a connection of its own. With a cursor, what follows it is the
    same whenever the server takes the subscription: tests need no "subscribed" signal."""
    async with ws.connect(url, token=token, protocol=protocol) as connection:
        yield Events(await connection.subscribe(EVENTS, {"after": after}))


async def last_cursor(client: Client, db_url: str, token: str) -> str:
    """The cursor of the caller's newest event, read from the database."""
    me = await client.ok("{ me { id } }", token=token)
    db = create_database(Settings(db_url=db_url))
    try:
        async with db.reader() as session:
            newest = await events.last_event_id(session, user_id=int(me["me"]["id"]))
    finally:
        await db.dispose()
    assert newest, "the user has no event yet"
    return encode_event_cursor(newest)


def kinds(events: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return [(event["kind"], event["messageId"]) for event in events]

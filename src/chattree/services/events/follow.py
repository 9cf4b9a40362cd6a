"""Following a user's conversation events: every event after a cursor, then live ones.

The feed is taken BEFORE the table is read, so every event committed after the read is
announced to it; each wake-up reads the table after the last event sent, so nothing is
sent twice and nothing is skipped, whichever process wrote the event. A wake-up carries
only an id: a full feed, or a listener that reconnected, just means "read again".
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Final

from chattree.broker import Broker, Change
from chattree.db import events
from chattree.db.engine import Database
from chattree.db.models import EventRow
from chattree.errors import InvalidInput

# Rows read per statement while catching up.
EVENT_BATCH: Final = 200


def publisher(broker: Broker) -> Callable[[dict[Any, Any]], None]:
    """The after-commit hook that announces a transaction's events on the broker."""

    def publish(info: dict[Any, Any]) -> None:
        for event in events.recorded(info):
            broker.publish(Change(event.user_id, event.event_id))

    return publish


async def follow_events(
    db: Database, broker: Broker, *, user_id: int, after: int | None
) -> AsyncIterator[EventRow]:
    """The user's events after `after` (None: from now on), in order, without end.
    BAD_USER_INPUT when `after` is not one of the user's events still kept."""
    with broker.watch(user_id) as feed:
        async with db.reader() as session:
            if after is None:
                cursor = await events.last_event_id(session, user_id=user_id)
            elif await events.owns_event(session, user_id=user_id, event_id=after):
                cursor = after
            else:
                raise InvalidInput(
                    "after is older than the events kept (EVENT_RETENTION) or not one of "
                    "yours: reload, then subscribe again without after",
                    argument="after",
                )
        wanted: int | None = None  # read when a wake-up names an event past the cursor
        while True:
            rows = await _read(db, user_id, cursor)
            for row in rows:
                cursor = row.id
                yield row
            if len(rows) == EVENT_BATCH:
                continue  # more to catch up on
            while wanted is None or wanted <= cursor:
                wanted = await feed.get()
                if wanted is None:
                    break  # overflow or reconnect: read whatever is there
            feed.drain()
            wanted = None


async def _read(db: Database, user_id: int, cursor: int) -> list[EventRow]:
    async with db.reader() as session:
        return await events.events_after(session, user_id=user_id, after=cursor, limit=EVENT_BATCH)

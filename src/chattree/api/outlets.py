"""`next` frames a subscription writes to its graphql-transport-ws connection itself.

Strawberry hands every result of a subscription through several layers per operation:
graphql-core maps the event, strawberry wraps the result and runs every extension's
hooks on it, and the handler builds and encodes the message. With a thousand
subscribers to one reply that came to about 200 µs of one core per frame, and frames
queued behind each other for hundreds of milliseconds.

A `MessageEvent` is executed once for every operation that asks the same (see
`api/shared_events.py`); the result is then the same text for each of them but for
the operation's id. So, once an operation has had its first result the usual way
(which its metrics and any errors ride on), a later event whose result another
operation already computed, without errors, is written by the subscription itself
as one pre-encoded frame. A result with errors, or one nobody has computed yet, goes
the usual way, which computes and shares it.

Only graphql-transport-ws operations have an outlet: the handler sets one in the
operation task's context (`OUTLET`). Other transports, and everything else a
connection runs, see none.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

from chattree.api.encoding import json_text


class Outlet:
    """The `next` frames of one operation, as text, written in the operation's task."""

    __slots__ = ("_prefix", "_write")

    def __init__(self, operation_id: str, write: Callable[[str], Awaitable[bool]]) -> None:
        self._prefix = '{"id":' + json_text(operation_id) + ',"type":"next","payload":'
        self._write = write

    async def send(self, payload: str) -> bool:
        """Writes one frame with `payload`, an encoded `{"data": ...}`; False when the
        operation has ended meanwhile and nothing was written."""
        return await self._write(self._prefix + payload + "}")


OUTLET: ContextVar[Outlet | None] = ContextVar("OUTLET", default=None)

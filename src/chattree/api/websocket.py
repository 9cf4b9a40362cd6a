"""strawberry's websocket handlers, with the per-connection operation limit answered in
the contract's terms: an error with extensions.code RATE_LIMITED, not a bare message."""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from graphql import GraphQLFormattedError
from strawberry.subscriptions.protocols.graphql_transport_ws import types as transport
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage, StartMessage

from chattree.api.context import Context

# Operations end when their reply does; a client that waits a moment finds room.
RETRY_AFTER = 1


def limit_error(limit: int) -> GraphQLFormattedError:
    return {
        "message": (
            f"too many operations on this connection (the most is {limit}); complete one "
            "or open another connection"
        ),
        "extensions": {"code": "RATE_LIMITED", "retryAfter": RETRY_AFTER},
    }


def full(limit: int | None, operation_id: str, running: Collection[str]) -> bool:
    """Whether a new operation would pass the limit. Reusing a running operation's id
    is left to strawberry, which replaces or refuses it."""
    return limit is not None and operation_id not in running and len(running) >= limit


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws."""

    async def handle_subscribe(self, message: transport.SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if self.connection_acknowledged and full(limit, message["id"], self.operations):
            assert limit is not None
            await self.send_message(
                transport.ErrorMessage(id=message["id"], type="error", payload=[limit_error(limit)])
            )
            return
        await super().handle_subscribe(message)


class LegacyWSHandler(BaseGraphQLWSHandler[Context, None]):
    """graphql-ws (subscriptions-transport-ws), with the connection_init deadline that
    strawberry gives only graphql-transport-ws."""

    async def handle(self) -> None:
        deadline = asyncio.create_task(self._close_unless_initialised())
        try:
            await super().handle()
        finally:
            deadline.cancel()

    async def _close_unless_initialised(self) -> None:
        await asyncio.sleep(self.view.connection_init_wait_timeout.total_seconds())
        if not self.connection_acknowledged:
            await self.websocket.close(code=4408, reason="Connection initialisation timeout")

    async def handle_start(self, message: StartMessage) -> None:
        limit = self.max_subscriptions_per_connection
        if self.connection_acknowledged and full(limit, message["id"], self.tasks):
            assert limit is not None
            await self.send_message(
                ErrorMessage(type="error", id=message["id"], payload=limit_error(limit))
            )
            return
        await super().handle_start(message)

"""strawberry's websocket handlers, with the per-connection operation limit answered in
the contract's terms: an error with extensions.code RATE_LIMITED, not a bare message,
and, on graphql-transport-ws, an outlet for the frames a subscription writes itself
(api/outlets.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

from graphql import GraphQLFormattedError
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.subscriptions.protocols.graphql_transport_ws import types as transport
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_ws.handlers import BaseGraphQLWSHandler
from strawberry.subscriptions.protocols.graphql_ws.types import ErrorMessage, StartMessage

from chattree.api.context import Context
from chattree.api.outlets import OUTLET, Outlet

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
        # The operation's task, which strawberry creates here, copies this context.
        reset = OUTLET.set(Outlet(message["id"], self._frame_writer(message["id"])))
        try:
            await super().handle_subscribe(message)
        finally:
            OUTLET.reset(reset)

    def _frame_writer(self, operation_id: str) -> Callable[[str], Awaitable[bool]]:
        socket = self.websocket
        assert isinstance(socket, ASGIWebSocketAdapter)

        async def write(frame: str) -> bool:
            # As strawberry's own sends: nothing once the operation has completed.
            operation = self.operations.get(operation_id)
            if operation is None or operation.completed:
                return False
            try:
                await socket.ws.send_text(frame)
            except WebSocketDisconnect:
                # The connection is closing, and its handler is about to cancel this
                # operation: the subscription ends without an error.
                return False
            return True

        return write


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

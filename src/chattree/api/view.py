"""The GraphQL endpoint: HTTP, GraphiQL and both websocket subprotocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.base import BaseSchema

from chattree.api.context import Context
from chattree.api.websocket import LegacyWSHandler, TransportWSHandler
from chattree.errors import Unauthenticated
from chattree.services.bundle import Services


class GraphQLView(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler

    def __init__(
        self,
        schema: BaseSchema,
        *,
        allowed_origins: Sequence[str] = (),
        init_timeout: float = 10.0,
        max_operations: int = 100,
    ) -> None:
        super().__init__(
            schema,
            allowed_origins=allowed_origins,
            graphql_ide="graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            # A socket that never says connection_init holds a connection for nothing.
            connection_init_wait_timeout=timedelta(seconds=init_timeout),
            # Operations in flight on one socket (subscriptions, and queries or
            # mutations sent over it), each of which holds a task and a broker queue.
            max_subscriptions_per_connection=max_operations,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> Context:
        services: Services = request.app.state.services
        return Context(services, request)

    async def on_ws_connect(self, context: Context) -> None:
        """Authenticates the connection from its connection_init payload."""
        try:
            await context.user()
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": exc.message}) from None

"""The GraphQL endpoints: HTTP, GraphiQL, the websocket subprotocols, and subscriptions
over plain HTTP (Apollo's multipart protocol, and GraphQL over Server-Sent Events)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.ides import GraphQL_IDE
from strawberry.http.streaming import (
    HTTPStreamTransport,
    MultipartSubscriptionTransport,
    SSETransport,
)
from strawberry.schema.base import BaseSchema
from strawberry.subscriptions import (
    GRAPHQL_SSE_PROTOCOL,
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)

from chattree.api.context import Context
from chattree.errors import Unauthenticated
from chattree.services.bundle import Services

# /graphql: both websocket subprotocols, and multipart responses for clients that ask
# with `Accept: multipart/mixed;subscriptionSpec=1.0` (Apollo Client, urql).
MAIN_PROTOCOLS: Final = (
    GRAPHQL_TRANSPORT_WS_PROTOCOL,
    GRAPHQL_WS_PROTOCOL,
    MULTIPART_SUBSCRIPTION_PROTOCOL,
)
# /graphql/stream: the graphql-sse protocol's "distinct connections" mode, one event
# stream per operation, chosen by `Accept: text/event-stream`.
STREAM_PROTOCOLS: Final = (GRAPHQL_SSE_PROTOCOL,)


class MultipartTransport(MultipartSubscriptionTransport):
    """Ends the body with the closing delimiter itself. Strawberry's transport follows
    the last part's delimiter with a second, closing one, which leaves an empty part
    without headers that strict multipart parsers (aiohttp's, Python's email) reject;
    Apollo's lenient parser reads both forms."""

    def encode_complete(self) -> str:
        return "--\r\n"


class GraphQLView(GraphQL[Context, None]):
    stream_transport_classes_by_protocol: Mapping[str, type[HTTPStreamTransport]] = {
        MULTIPART_SUBSCRIPTION_PROTOCOL: MultipartTransport,
        GRAPHQL_SSE_PROTOCOL: SSETransport,
    }

    def __init__(
        self,
        schema: BaseSchema,
        *,
        allowed_origins: Sequence[str] = (),
        protocols: Sequence[str] = MAIN_PROTOCOLS,
        graphql_ide: GraphQL_IDE | None = "graphiql",
    ) -> None:
        super().__init__(
            schema,
            allowed_origins=allowed_origins,
            graphql_ide=graphql_ide,
            subscription_protocols=protocols,
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=100,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        with services.metrics.websockets.track_inprogress():
            await super().__call__(scope, receive, send)

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

"""The GraphQL endpoints: HTTP, GraphiQL, the websocket subprotocols, and subscriptions
over plain HTTP (Apollo's multipart protocol, and GraphQL over Server-Sent Events).

Over HTTP it follows the GraphQL-over-HTTP specification. A client that accepts
`application/graphql-response+json` gets that media type, and a request that could not
be executed at all (it does not parse, does not validate, or its variables do not fit)
is answered 400 with no `data` entry. A client that asks for `application/json` (or
says nothing) gets the classic behaviour: 200 with every GraphQL response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Final

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
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
from strawberry.types import ExecutionResult

from chattree.api.context import Context
from chattree.api.encoding import json_text
from chattree.api.errors import INTERNAL, client_error
from chattree.api.media_types import GRAPHQL_RESPONSE, response_media_type
from chattree.api.websocket import LegacyWSHandler, TransportWSHandler
from chattree.errors import Unauthenticated
from chattree.services.bundle import Services

STATIC = Path(__file__).parent / "static"

# The GraphiQL page loads its scripts and styles from this server only (see /static);
# the browser refuses anything else, so a page that works here works offline too.
IDE_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # GraphiQL and CodeMirror set inline styles
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",  # includes ws:// to this host
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)


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
    graphql_transport_ws_handler_class = TransportWSHandler
    graphql_ws_handler_class = LegacyWSHandler
    stream_transport_classes_by_protocol: Mapping[str, type[HTTPStreamTransport]] = {
        MULTIPART_SUBSCRIPTION_PROTOCOL: MultipartTransport,
        GRAPHQL_SSE_PROTOCOL: SSETransport,
    }

    def __init__(
        self,
        schema: BaseSchema,
        *,
        allowed_origins: Sequence[str] = (),
        init_timeout: float = 10.0,
        max_operations: int = 100,
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
            # A socket that never says connection_init holds a connection for nothing.
            connection_init_wait_timeout=timedelta(seconds=init_timeout),
            # Operations in flight on one socket (subscriptions, and queries or
            # mutations sent over it), each of which holds a task and a broker queue.
            max_subscriptions_per_connection=max_operations,
            # Clients authenticate with a Bearer header, never a cookie, so a cross-site
            # form post (the CSRF risk of multipart requests) carries no credentials.
            multipart_uploads_enabled=True,
        )
        self.ide_page = (STATIC / "ide" / "index.html").read_text(encoding="utf-8")

    async def render_graphql_ide(self, request: Request) -> Response:
        """ChatTree's own GraphiQL page, in place of Strawberry's, which loads from a CDN."""
        return HTMLResponse(self.ide_page, headers={"Content-Security-Policy": IDE_POLICY})

    def encode_json(self, data: object) -> str:
        return json_text(data)

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

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        if result.errors:
            # An extension that fails before `ErrorCodes` runs leaves its error unmapped.
            result.errors = [
                error if "code" in (error.extensions or {}) else client_error(error)
                for error in result.errors
            ]
        response = await super().process_result(request, result)
        if is_request_error(result) and wants_graphql_response(request):
            # The specification's sign that execution never began.
            response.pop("data", None)
        return response

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if sub_response.media_type != GRAPHQL_RESPONSE:
            return response
        response.headers["content-type"] = GRAPHQL_RESPONSE
        if isinstance(response_data, dict) and "data" not in response_data:
            response.status_code = 500 if INTERNAL in error_codes(response_data) else 400
        return response


def wants_graphql_response(request: Request) -> bool:
    return response_media_type(request.headers.get("accept")) == GRAPHQL_RESPONSE


def is_request_error(result: ExecutionResult) -> bool:
    """No data and no error at a field: the operation was refused before it ran."""
    return (
        result.data is None
        and bool(result.errors)
        and all(error.path is None for error in result.errors or ())
    )


def error_codes(response: GraphQLHTTPResponse) -> set[object]:
    return {
        error["extensions"].get("code")
        for error in response.get("errors") or ()
        if isinstance(error, dict) and isinstance(error.get("extensions"), dict)
    }

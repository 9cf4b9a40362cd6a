"""The GraphQL endpoint: HTTP, GraphiQL and both websocket subprotocols."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.base import BaseSchema

from chattree.api.context import Context
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


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, *, allowed_origins: Sequence[str] = ()) -> None:
        super().__init__(
            schema,
            allowed_origins=allowed_origins,
            graphql_ide="graphiql",
            keep_alive=True,
            keep_alive_interval=15,
            connection_init_wait_timeout=timedelta(seconds=10),
            max_subscriptions_per_connection=100,
        )
        self.ide_page = (STATIC / "ide" / "index.html").read_text(encoding="utf-8")

    async def render_graphql_ide(self, request: Request) -> Response:
        """ChatTree's own GraphiQL page, in place of Strawberry's, which loads from a CDN."""
        return HTMLResponse(self.ide_page, headers={"Content-Security-Policy": IDE_POLICY})

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

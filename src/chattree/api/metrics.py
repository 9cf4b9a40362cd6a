"""The API's part of the metrics: each GraphQL operation's outcome and latency, and the
/metrics endpoint."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

from graphql.error import GraphQLError
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from strawberry.extensions import SchemaExtension
from strawberry.types import StreamExecutionResult

from chattree.api.context import Context
from chattree.api.errors import code_of
from chattree.errors import Unauthenticated
from chattree.services.bundle import Services
from chattree.services.tokens import bearer_token


class OperationMetrics(SchemaExtension):
    """Counts an operation once, when its first result is ready: the result of a query
    or mutation, the first event (or error) of a subscription. A subscription's end
    depends on its client, so its lifetime would say nothing about the server."""

    def on_operation(self) -> Iterator[None]:
        self._started = time.perf_counter()
        self._recorded = False
        yield
        result = self.execution_context.result
        self._record(result.errors if result is not None else None)

    def on_stream_result(self, result: StreamExecutionResult) -> Iterator[None]:
        self._record(getattr(result, "errors", None))
        yield

    def _record(self, errors: list[GraphQLError] | None) -> None:
        context = self.execution_context.context
        if self._recorded or not isinstance(context, Context):
            return
        self._recorded = True
        code = code_of(errors[0]) if errors else "OK"
        context.services.metrics.observe_operation(
            self._operation_type(), code, time.perf_counter() - self._started
        )

    def _operation_type(self) -> str:
        try:
            return self.execution_context.operation_type.value
        except Exception:
            # No document (a syntax error) or no operation of the requested name.
            return "unknown"


async def metrics_endpoint(request: Request) -> Response:
    """404 unless METRICS=on; 401 without the METRICS_TOKEN, when one is set."""
    services: Services = request.app.state.services
    settings = services.settings
    if not settings.metrics:
        return PlainTextResponse("Not Found", status_code=404)
    if settings.metrics_token is not None and not authorized(request, settings.metrics_token):
        return PlainTextResponse(
            "send the METRICS_TOKEN as 'Authorization: Bearer <token>'",
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    body, content_type = services.metrics.exposition()
    return Response(body, media_type=content_type)


def authorized(request: Request, expected: str) -> bool:
    try:
        token = bearer_token(request.headers.get("authorization"))
    except Unauthenticated:
        return False
    return token is not None and secrets.compare_digest(token.encode(), expected.encode())

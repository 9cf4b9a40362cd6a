"""Gives every HTTP request and websocket connection a request id, and tells the client.

A sane incoming `X-Request-ID` (from a proxy, or a client that wants to quote it) is
kept; otherwise a fresh one is made. The id is in the `X-Request-ID` response header (of
the websocket handshake too) and in every log line written while the request runs.
Operations on a websocket get ids of their own, derived from the connection's
(`api.context.OperationContext`).
"""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chattree import logs

HEADER = "X-Request-ID"


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = logs.accepted_request_id(Headers(scope=scope).get(HEADER))

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)[HEADER] = request_id
            elif message["type"] == "websocket.accept":
                headers = list(message.get("headers", []))
                headers.append((HEADER.lower().encode(), request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        token = logs.request_id.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.request_id.reset(token)

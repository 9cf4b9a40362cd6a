"""The real server on a loopback port, and a small GraphQL client for it."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import uvicorn
from sqlalchemy import event
from starlette.applications import Starlette

from chattree.app import create_app
from chattree.cli.server import websocket_options
from chattree.services.bundle import Services
from chattree.settings import Settings


class GraphQLFailure(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors)
        self.errors = errors

    @property
    def code(self) -> str:
        return str(self.errors[0]["extensions"]["code"])


@dataclass
class Client:
    """GraphQL over HTTP to one running server."""

    url: str
    http: aiohttp.ClientSession

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/graphql"

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.http.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        ) as response:
            body: dict[str, Any] = await response.json()
            return body

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The data of a request that must succeed."""
        body = await self.post(query, variables, token=token)
        if body.get("errors"):
            raise GraphQLFailure(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    async def fails(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        """The first error of a request that must fail."""
        body = await self.post(query, variables, token=token)
        assert body.get("errors"), f"expected an error, got {body}"
        error: dict[str, Any] = body["errors"][0]
        return error

    async def register(self, username: str, password: str = "correct horse") -> str:
        data = await self.ok(
            "mutation($u: String!, $p: String!) { register(username: $u, password: $p) { token } }",
            {"u": username, "p": password},
        )
        token: str = data["register"]["token"]
        return token


@dataclass
class Api(Client):
    """A server running in this process: the client, and the app behind it."""

    app: Starlette = field(kw_only=True)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    @asynccontextmanager
    async def counting_statements(self) -> AsyncIterator[list[str]]:
        """Records every SQL statement the server runs inside the block."""
        engine = self.services.db.engine.sync_engine
        seen: list[str] = []

        def record(*args: Any) -> None:
            seen.append(args[2])

        event.listen(engine, "before_cursor_execute", record)
        try:
            yield seen
        finally:
            event.remove(engine, "before_cursor_execute", record)


# What the server's background work runs at any moment: heartbeats and the sweep of
# replies whose process went away, the events pruner.
UPKEEP = ("BEGIN", "UPDATE messages SET heartbeat_at", "UPDATE messages SET context_message_count")


def of_requests(statements: list[str]) -> list[str]:
    """The statements that `counting_statements` saw, less the background work's."""
    return [
        sql
        for sql in statements
        if not sql.startswith(UPKEEP) and "heartbeat_at <" not in sql and "FROM events" not in sql
    ]


class StoppableServer(uvicorn.Server):
    """uvicorn's server, which looks for `should_exit` every 0.1 s, woken at once by
    `stop()` instead: every test starts and stops a server, and the wait for the next
    look was a twentieth of a second of each."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self.should_exit = True
        self._stopping.set()

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):
            ticks += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    await self._stopping.wait()


@asynccontextmanager
async def running_server(settings: Settings, **uvicorn_options: Any) -> AsyncIterator[Api]:
    """Serves the real app with uvicorn on a free loopback port, in this event loop;
    `uvicorn_options` go to uvicorn.Config."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The websocket limits of `chattree serve`, so tests meet them as clients would;
    # a test may change them.
    options = {**websocket_options(settings), **uvicorn_options}
    config = uvicorn.Config(app, log_level="warning", lifespan="on", **options)
    server = StoppableServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("the server stopped before it started")
            await asyncio.sleep(0.01)
        # uvicorn closes a keep-alive connection idle for 5 s (timeout_keep_alive); a client
        # that reuses one at that moment gets a reset. On a busy machine a pooled connection
        # can idle that long between two requests of a test, so the client lets go first.
        connector = aiohttp.TCPConnector(keepalive_timeout=1.0)
        async with aiohttp.ClientSession(connector=connector) as http:
            yield Api(url=f"http://127.0.0.1:{port}", http=http, app=app)
    finally:
        server.stop()
        await task
        sock.close()

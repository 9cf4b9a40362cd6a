"""`chattree serve`, `chattree demo` and `chattree migrate`."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import socket
from collections.abc import Sequence
from types import FrameType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from chattree.app import Companion, create_app
from chattree.collector import tune_for_serving
from chattree.settings import Settings

log = logging.getLogger("chattree")

FINAL_EVENTS_SECONDS = 2.0
CLOSING_CONNECTIONS_SECONDS = 1.0


async def migrate(settings: Settings) -> None:
    from chattree.db.migrate import migrate as apply_migrations

    await apply_migrations(settings)


class Server(uvicorn.Server):
    """Ends running replies while their subscribers are still connected, so each of them
    gets a final event before uvicorn closes the connections."""

    def __init__(self, config: uvicorn.Config, app: Starlette) -> None:
        super().__init__(config)
        self.starlette = app

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        services = getattr(self.starlette.state, "services", None)
        if services is not None:
            # Stop listening first: while replies drain, new connections (and the prompts
            # they would start only to interrupt them) go to the other replicas.
            for server in self.servers:
                server.close()
            await services.generations.close(grace=services.settings.shutdown_grace)
            # Give subscriptions a moment to deliver their final events.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FINAL_EVENTS_SECONDS):
                    # A counter, not an event: subscriptions of other processes' replies
                    # may keep it above zero, and the timeout bounds that.
                    while services.generations.followers and not self.force_exit:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
        await self._settle_closing_connections()
        # No await in between: no connection can begin closing before uvicorn's shutdown
        # walks them.
        await super().shutdown(sockets)

    async def _settle_closing_connections(self) -> None:
        """Waits (briefly) until no connection is half-closed.

        uvicorn's shutdown asks each connection to close, and its websocket protocol
        raises for a connection whose client already began the closing handshake, which
        aborts the shutdown (exit 1, lifespan not closed). Subscribers do exactly that
        once they get their final event. Such connections are gone within moments."""

        def half_closed() -> bool:
            return any(
                (transport := getattr(connection, "transport", None)) is not None
                and transport.is_closing()
                for connection in self.server_state.connections
            )

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSING_CONNECTIONS_SECONDS):
                while half_closed():  # noqa: ASYNC110 - uvicorn offers nothing to await
                    await asyncio.sleep(0.01)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM:
            # SIGTERM is how supervisors ask a server to stop. uvicorn records the signal
            # and raises it again after shutting down, so the process would die of it
            # (status 143) even after a clean stop; a stop that went well exits 0. A second
            # SIGTERM still forces the exit.
            self.force_exit = self.should_exit
            self.should_exit = True
            return
        super().handle_exit(sig, frame)


def serve(settings: Settings) -> None:
    from chattree.checks import model_server_warning

    run(settings, companions=[lambda: model_server_warning(settings)])


def demo(settings: Settings) -> None:
    """Serves the app with the demo model server beside it, on a loopback port of its own."""
    from chattree.demo import DEMO_MODEL, DemoModelServer

    model = DemoModelServer.on_free_port()
    settings = dataclasses.replace(
        settings, model_base_url=model.base_url, model_api_key="", default_model=DEMO_MODEL
    )
    log.info(
        "demo: replies come from the built-in demo model at %s, not from a language model. "
        "Open http://%s:%d/graphql",
        model.base_url,
        settings.host,
        settings.port,
    )
    run(settings, companions=[model.running])


def run(settings: Settings, *, companions: Sequence[Companion]) -> None:
    app = create_app(settings, companions=companions)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # uvicorn's lines go through the handler `logs.configure` set up, in its format.
        log_config=None,
        proxy_headers=True,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
        **websocket_options(settings),
    )
    tune_for_serving()
    Server(config, app).run()


def websocket_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's websocket limits: the largest message a client may send, and the ping
    that closes a peer which stopped answering (its network vanished, say) instead of
    keeping its subscriptions, and their tasks, alive for good."""
    return {
        "ws_max_size": settings.ws_max_message_bytes,
        "ws_ping_interval": settings.ws_ping_interval,
        "ws_ping_timeout": settings.ws_ping_timeout,
    }

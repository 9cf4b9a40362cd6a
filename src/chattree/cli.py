"""`chattree serve` and `chattree migrate`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from types import FrameType

import uvicorn
from starlette.applications import Starlette

from chattree.settings import Settings, SettingsError

FINAL_EVENTS_SECONDS = 2.0
CLOSING_CONNECTIONS_SECONDS = 1.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chattree", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the server on UVICORN_HOST:UVICORN_PORT")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    commands.add_parser("schema", help="print the GraphQL schema (SDL) to standard output")
    args = parser.parse_args(argv)
    if args.command == "schema":
        from chattree.api.schema import schema

        print(schema.as_str())
        return 0
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"chattree: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Alembic announces each of its plugins at INFO on every start.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == "migrate":
        asyncio.run(migrate(settings))
        return 0
    serve(settings)
    return 0


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
    from chattree.app import create_app

    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        timeout_graceful_shutdown=int(settings.shutdown_grace) + 5,
    )
    Server(config, app).run()


if __name__ == "__main__":
    sys.exit(main())

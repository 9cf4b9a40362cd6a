"""The ASGI application: /graphql (HTTP and websocket), /graphql/stream (SSE), /healthz,
/readyz, /metrics, /docs.

`create_app()` builds it; the lifespan creates the engine, the model client's HTTP
session, the broker and the generation manager, and closes them on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute

from chattree.api.body_limit import BodyLimit
from chattree.api.metrics import metrics_endpoint
from chattree.api.schema import build_schema
from chattree.api.view import STREAM_PROTOCOLS, GraphQLView
from chattree.broker import Broker, MemoryBroker
from chattree.db.engine import create_database
from chattree.db.migrate import migrate
from chattree.db.secrets import shared_secret
from chattree.llm import ModelClient, Timeouts
from chattree.metrics import Metrics
from chattree.services.accounts import Accounts
from chattree.services.bundle import Services
from chattree.services.conversations import Conversations
from chattree.services.generation import GenerationManager
from chattree.services.ratelimit import SlidingWindow
from chattree.services.tokens import TokenSigner
from chattree.settings import Settings

log = logging.getLogger("chattree")


def create_broker(settings: Settings) -> Broker:
    if settings.is_postgres:
        from chattree.broker.postgres import PostgresBroker

        return PostgresBroker(url=settings.db_direct_url or settings.db_url)
    return MemoryBroker()


@asynccontextmanager
async def running_services(settings: Settings, metrics: Metrics) -> AsyncIterator[Services]:
    """Everything a server process needs, opened in order and closed in reverse."""
    warn_about(settings)
    db = create_database(settings)
    http = aiohttp.ClientSession()
    broker = create_broker(settings)
    generations: GenerationManager | None = None
    try:
        # First: it refuses a transaction pooler, where migrations would fail less clearly.
        await broker.start()
        await migrate(settings, db)
        secret = settings.signature or await shared_secret(db, "jwt")
        client = ModelClient(
            session=http,
            base_url=settings.model_base_url,
            api_key=settings.model_api_key,
            timeouts=Timeouts(
                connect=settings.model_connect_timeout,
                first_token=settings.model_first_token_timeout,
                idle=settings.model_idle_timeout,
            ),
            on_error=lambda request: metrics.upstream_errors.labels(request).inc(),
        )
        manager = GenerationManager(
            db=db, client=client, broker=broker, settings=settings, metrics=metrics
        )
        generations = manager
        metrics.watch_subscriptions(lambda: manager.followers)
        metrics.watch_pool(db.engine.pool)
        await generations.start()
        yield Services(
            settings=settings,
            db=db,
            client=client,
            broker=broker,
            accounts=Accounts(
                db=db,
                signer=TokenSigner(secret, settings.token_ttl_seconds),
                use_hash=settings.use_hash,
                login_limiter=SlidingWindow(
                    limit=settings.login_attempts_per_minute, what="login attempts"
                ),
                register_limiter=SlidingWindow(
                    limit=settings.registrations_per_hour, window=3600, what="registrations"
                ),
            ),
            generations=generations,
            conversations=Conversations(
                db=db, client=client, generations=generations, settings=settings
            ),
            metrics=metrics,
        )
    finally:
        if generations is not None:
            await generations.close()
        await broker.close()
        await http.close()
        await db.dispose()


def warn_about(settings: Settings) -> None:
    if settings.signature is None:
        log.warning(
            "SIGNATURE is not set: tokens are signed with a secret generated and kept in the "
            "database. Set SIGNATURE in production."
        )
    if settings.metrics and settings.metrics_token is None:
        log.warning(
            "METRICS=on without METRICS_TOKEN: /metrics is open to anyone who reaches it. "
            "Set METRICS_TOKEN, or keep /metrics off the public side of the proxy."
        )
    if not settings.use_hash:
        log.warning(
            "USE_HASH=false: NEW PASSWORDS ARE STORED IN PLAIN TEXT. Never do this in "
            "production; existing hashed passwords keep working either way."
        )


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    schema = build_schema(max_depth=settings.max_query_depth)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running_services(settings, metrics) as services:
            app.state.services = services
            yield

    graphql = GraphQLView(schema, allowed_origins=settings.cors_origins)
    stream = GraphQLView(
        schema, allowed_origins=settings.cors_origins, protocols=STREAM_PROTOCOLS, graphql_ide=None
    )

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        db = request.app.state.services.db
        try:
            async with db.reader() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            log.warning("readiness check failed: %s", exc)
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    async def docs(request: Request) -> Response:
        return RedirectResponse("/graphql")

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/graphql/stream", stream, methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/docs", docs),
            Route("/metrics", metrics_endpoint),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept"],
                max_age=600,
            ),
            # Room for the longest message a client may send, JSON-escaped, and the query.
            Middleware(BodyLimit, max_bytes=6 * settings.max_message_length + 64 * 1024),
        ],
        lifespan=lifespan,
    )
    return app


def __getattr__(name: str) -> Starlette:
    # `uvicorn chattree.app:app` builds the app on first access, not at import.
    if name == "app":
        return create_app()
    raise AttributeError(name)

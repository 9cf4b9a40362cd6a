"""The ASGI application: /graphql (HTTP, websocket and GraphiQL), /graphql/stream (SSE),
/static (GraphiQL's assets), /export, /healthz, /readyz, /metrics, /docs.

`create_app()` builds it; the lifespan creates the engine, the model client's HTTP
session, the broker and the generation manager, and closes them on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

import aiohttp
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from chattree import logs
from chattree.api.body_limit import BodyLimit
from chattree.api.download import export_download
from chattree.api.metrics import metrics_endpoint
from chattree.api.request_id import HEADER as REQUEST_ID_HEADER
from chattree.api.request_id import RequestId
from chattree.api.schema import build_schema
from chattree.api.view import STATIC, STREAM_PROTOCOLS, GraphQLView
from chattree.broker import Broker, MemoryBroker
from chattree.db.engine import Database, create_database
from chattree.db.migrate import migrate
from chattree.db.secrets import shared_secret
from chattree.llm import create_model_client
from chattree.metrics import Metrics
from chattree.services.accounts import Accounts
from chattree.services.bundle import Services
from chattree.services.conversations import Branches, Conversations, ModelControls
from chattree.services.events import EventPruner, publisher
from chattree.services.generation import GenerationManager
from chattree.services.limits import GenerationLimits, SharedWindow
from chattree.services.portability import Exporter, Importer
from chattree.services.ratelimit import Limiter, SlidingWindow
from chattree.services.search import Search
from chattree.services.shares import Shares
from chattree.services.tokens import TokenSigner
from chattree.settings import Settings

log = logging.getLogger("chattree")

# Something that runs beside the app: entered before its services open, left after they
# close (the demo's model server, the start-up check of the model server).
Companion = Callable[[], AbstractAsyncContextManager[object]]


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
    # No connection limit: aiohttp's default of 100 would hold reply 101 until another
    # ends, with no timeout. MAX_STREAMS_PER_USER and the model server bound them instead.
    http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
    broker = create_broker(settings)
    # Events a transaction records go out on the broker once it has committed.
    db.after_commit.append(publisher(broker))
    pruner = EventPruner(db=db, retention=settings.event_retention)
    generations: GenerationManager | None = None
    try:
        # First: it refuses a transaction pooler, where migrations would fail less clearly.
        await broker.start()
        await migrate(settings, db)
        secret = settings.signature or await shared_secret(db, "jwt")
        client = create_model_client(
            settings, http, on_error=lambda request: metrics.upstream_errors.labels(request).inc()
        )
        manager = GenerationManager(
            db=db, client=client, broker=broker, settings=settings, metrics=metrics
        )
        generations = manager
        metrics.watch_subscriptions(lambda: manager.followers)
        metrics.watch_pool(db.engine.pool)
        await generations.start()
        limits = GenerationLimits(
            max_streams=settings.max_streams_per_user,
            prompts=SharedWindow(db=db, limit=settings.prompts_per_minute, what="prompts"),
        )
        conversations = Conversations(
            db=db, client=client, generations=manager, limits=limits, settings=settings
        )
        pruner.start()
        yield Services(
            settings=settings,
            db=db,
            client=client,
            broker=broker,
            accounts=Accounts(
                db=db,
                signer=TokenSigner(secret, settings.token_ttl_seconds),
                use_hash=settings.use_hash,
                login_limiter=limiter(
                    settings, db, settings.login_attempts_per_minute, 60, "login attempts"
                ),
                register_limiter=limiter(
                    settings, db, settings.registrations_per_hour, 3600, "registrations"
                ),
            ),
            generations=generations,
            conversations=conversations,
            controls=ModelControls(
                db=db,
                generations=generations,
                limits=limits,
                resolve_override=conversations.resolve_override,
            ),
            branches=Branches(db=db, generations=generations),
            shares=Shares(
                db=db,
                read_limiter=limiter(
                    settings, db, settings.shared_reads_per_minute, 60, "share link reads"
                ),
            ),
            importer=Importer(db=db),
            exporter=Exporter(db=db),
            search=Search(db=db),
            metrics=metrics,
        )
    finally:
        await pruner.close()
        if generations is not None:
            await generations.close()
        await broker.close()
        await http.close()
        await db.dispose()


def limiter(settings: Settings, db: Database, limit: int, window: int, what: str) -> Limiter:
    """Login and registration limits: in the database on PostgreSQL, where replicas
    must share them. SQLite serves one process, whose memory counts exactly, and a
    write transaction per login attempt would contend for SQLite's one write lock."""
    if settings.is_postgres:
        return SharedWindow(db=db, limit=limit, window=window, what=what)
    return SlidingWindow(limit=limit, window=window, what=what)


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


def create_app(
    settings: Settings | None = None, *, companions: Sequence[Companion] = ()
) -> Starlette:
    settings = settings or Settings.from_env()
    if not logging.getLogger().handlers:
        # Served as `uvicorn chattree.app:app`: uvicorn set up only its own loggers.
        logs.configure(level=settings.log_level, log_format=settings.log_format)
    schema = build_schema(max_depth=settings.max_query_depth)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for companion in companions:
                await stack.enter_async_context(companion())
            app.state.services = await stack.enter_async_context(
                running_services(settings, metrics)
            )
            yield

    graphql = GraphQLView(
        schema,
        allowed_origins=settings.cors_origins,
        init_timeout=settings.ws_init_timeout,
        max_operations=settings.ws_max_operations,
    )
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
            Route("/export", export_download),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
            Route("/metrics", metrics_endpoint),
        ],
        middleware=[
            # Outermost, so that every response and log line has an id, refusals included.
            Middleware(RequestId),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type", "Accept", REQUEST_ID_HEADER],
                expose_headers=[REQUEST_ID_HEADER],
                max_age=600,
            ),
            # Room for the longest message a client may send, JSON-escaped, and the query.
            Middleware(
                BodyLimit,
                max_bytes=6 * settings.max_message_length + 64 * 1024,
                max_upload_bytes=settings.max_import_bytes,
            ),
        ],
        lifespan=lifespan,
    )
    return app


def __getattr__(name: str) -> Starlette:
    # `uvicorn chattree.app:app` builds the app on first access, not at import.
    if name == "app":
        return create_app()
    raise AttributeError(name)

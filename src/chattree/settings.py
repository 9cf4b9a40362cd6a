"""Every environment variable the server reads, parsed and validated once at start-up."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from chattree.env_values import (
    Reader,
    SettingsError,
    context_tokens,
    log_format,
    log_level,
    metrics_token,
    non_negative_float,
    origins,
    parse_bool,
    parse_db_url,
    parse_http_url,
    parse_postgres_url,
    parse_secret,
    port_number,
    positive_float,
    positive_int,
)
from chattree.logs import LogFormat

__all__ = ["Settings", "SettingsError"]


@dataclass(frozen=True)
class Settings:
    db_url: str = "sqlite+aiosqlite:///data/database.db"
    # Set when DB_URL goes through a transaction pooler (PgBouncer): the server itself,
    # for what needs a session of its own (LISTEN, migrations' advisory lock).
    db_direct_url: str | None = field(default=None, repr=False)
    signature: str | None = field(default=None, repr=False)
    use_hash: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    model_base_url: str = "http://127.0.0.1:11434/v1"
    model_api_key: str = field(default="", repr=False)
    default_model: str | None = None
    token_ttl_seconds: int = 7 * 24 * 3600
    max_message_length: int = 100_000
    max_query_depth: int = 15
    model_connect_timeout: float = 10.0
    model_first_token_timeout: float = 120.0
    model_idle_timeout: float = 60.0
    # The model's context window, and how much of it is kept for the reply.
    model_context_tokens: int = 8192
    model_reply_tokens: int = 1024
    model_max_reply_seconds: float = 600.0
    flush_interval: float = 1.0
    heartbeat_interval: float = 5.0
    stale_after: float = 30.0
    shutdown_grace: float = 10.0
    # Seconds conversation events are kept: a device away for longer reloads.
    event_retention: float = 24 * 3600.0
    login_attempts_per_minute: int = 10
    registrations_per_hour: int = 30
    shared_reads_per_minute: int = 60
    max_import_bytes: int = 512 * 1024 * 1024
    max_streams_per_user: int = 4
    prompts_per_minute: int = 30
    ws_max_operations: int = 100
    ws_init_timeout: float = 10.0
    ws_max_message_bytes: int = 1024 * 1024
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    log_level: str = "INFO"
    log_format: LogFormat = "text"
    # Browser origins allowed to call the API from other sites (HTTP and websockets).
    cors_origins: tuple[str, ...] = ()
    # /metrics: served only when on; with a token, only to `Authorization: Bearer <token>`.
    metrics: bool = False
    metrics_token: str | None = field(default=None, repr=False)

    @property
    def is_postgres(self) -> bool:
        return make_url(self.db_url).get_backend_name() == "postgresql"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Reader(os.environ if environ is None else environ)
        settings = cls(
            db_url=env.get("DB_URL", cls.db_url, parse_db_url),
            db_direct_url=env.get("DB_DIRECT_URL", None, parse_postgres_url),
            signature=env.get("SIGNATURE", None, parse_secret),
            use_hash=env.get("USE_HASH", cls.use_hash, parse_bool),
            host=env.get("UVICORN_HOST", cls.host, str),
            port=env.get("UVICORN_PORT", cls.port, port_number),
            model_base_url=env.get("MODEL_BASE_URL", cls.model_base_url, parse_http_url),
            model_api_key=env.get("MODEL_API_KEY", cls.model_api_key, str),
            default_model=env.get("DEFAULT_MODEL", None, str) or None,
            token_ttl_seconds=env.get("TOKEN_TTL_SECONDS", cls.token_ttl_seconds, positive_int),
            max_message_length=env.get("MAX_MESSAGE_LENGTH", cls.max_message_length, positive_int),
            max_query_depth=env.get("MAX_QUERY_DEPTH", cls.max_query_depth, positive_int),
            model_connect_timeout=env.get(
                "MODEL_CONNECT_TIMEOUT", cls.model_connect_timeout, positive_float
            ),
            model_first_token_timeout=env.get(
                "MODEL_FIRST_TOKEN_TIMEOUT", cls.model_first_token_timeout, positive_float
            ),
            model_idle_timeout=env.get(
                "MODEL_IDLE_TIMEOUT", cls.model_idle_timeout, positive_float
            ),
            model_context_tokens=env.get(
                "MODEL_CONTEXT_TOKENS", cls.model_context_tokens, context_tokens
            ),
            model_reply_tokens=env.get("MODEL_REPLY_TOKENS", cls.model_reply_tokens, positive_int),
            model_max_reply_seconds=env.get(
                "MODEL_MAX_REPLY_SECONDS", cls.model_max_reply_seconds, positive_float
            ),
            flush_interval=env.get("FLUSH_INTERVAL", cls.flush_interval, positive_float),
            heartbeat_interval=env.get(
                "HEARTBEAT_INTERVAL", cls.heartbeat_interval, positive_float
            ),
            stale_after=env.get("STALE_AFTER", cls.stale_after, positive_float),
            shutdown_grace=env.get("SHUTDOWN_GRACE", cls.shutdown_grace, non_negative_float),
            event_retention=env.get("EVENT_RETENTION", cls.event_retention, positive_float),
            login_attempts_per_minute=env.get(
                "LOGIN_ATTEMPTS_PER_MINUTE", cls.login_attempts_per_minute, positive_int
            ),
            registrations_per_hour=env.get(
                "REGISTRATIONS_PER_HOUR", cls.registrations_per_hour, positive_int
            ),
            shared_reads_per_minute=env.get(
                "SHARED_READS_PER_MINUTE", cls.shared_reads_per_minute, positive_int
            ),
            max_import_bytes=env.get("MAX_IMPORT_BYTES", cls.max_import_bytes, positive_int),
            max_streams_per_user=env.get(
                "MAX_STREAMS_PER_USER", cls.max_streams_per_user, positive_int
            ),
            prompts_per_minute=env.get("PROMPTS_PER_MINUTE", cls.prompts_per_minute, positive_int),
            ws_max_operations=env.get("WS_MAX_OPERATIONS", cls.ws_max_operations, positive_int),
            ws_init_timeout=env.get("WS_INIT_TIMEOUT", cls.ws_init_timeout, positive_float),
            ws_max_message_bytes=env.get(
                "WS_MAX_MESSAGE_BYTES", cls.ws_max_message_bytes, positive_int
            ),
            ws_ping_interval=env.get("WS_PING_INTERVAL", cls.ws_ping_interval, positive_float),
            ws_ping_timeout=env.get("WS_PING_TIMEOUT", cls.ws_ping_timeout, positive_float),
            log_level=env.get("LOG_LEVEL", cls.log_level, log_level),
            log_format=env.get("LOG_FORMAT", cls.log_format, log_format),
            cors_origins=env.get("CORS_ORIGINS", cls.cors_origins, origins),
            metrics=env.get("METRICS", cls.metrics, parse_bool),
            metrics_token=env.get("METRICS_TOKEN", None, metrics_token),
        )
        if settings.db_direct_url is not None and not settings.is_postgres:
            raise SettingsError(
                "DB_DIRECT_URL is set but DB_URL is not PostgreSQL: DB_DIRECT_URL is the "
                "direct address of the PostgreSQL server behind a pooler such as PgBouncer"
            )
        if settings.metrics_token is not None and not settings.metrics:
            raise SettingsError(
                "METRICS_TOKEN is set but METRICS is off: set METRICS=on to serve /metrics"
            )
        if settings.stale_after <= settings.heartbeat_interval:
            raise SettingsError(
                f"STALE_AFTER ({settings.stale_after}) must be longer than "
                f"HEARTBEAT_INTERVAL ({settings.heartbeat_interval})"
            )
        if settings.model_reply_tokens >= settings.model_context_tokens:
            raise SettingsError(
                f"MODEL_REPLY_TOKENS ({settings.model_reply_tokens}) must be smaller than "
                f"MODEL_CONTEXT_TOKENS ({settings.model_context_tokens}): the prompt needs room"
            )
        return settings

    def sqlite_path(self) -> Path | None:
        """The database file when DB_URL is SQLite on disk, else None."""
        url = make_url(self.db_url)
        database = url.database
        if url.get_backend_name() != "sqlite" or database in (None, "", ":memory:"):
            return None
        if url.query.get("uri") == "true" and database.startswith("file:"):
            # A URI filename, e.g. file:/srv/chattree.db?mode=ro&uri=true: the path only.
            return Path(urlsplit(database).path)
        return Path(database)

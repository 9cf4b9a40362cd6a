"""Parsers for the values of environment variables: each turns one raw string into a
typed value or raises ValueError saying what was expected, and `Reader` names the
variable in the error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from chattree.logs import LogFormat

T = TypeVar("T")

# Their values may hold credentials, so errors name them without repeating the value.
SECRET_VARIABLES = frozenset(
    {"DB_URL", "DB_DIRECT_URL", "SIGNATURE", "MODEL_API_KEY", "METRICS_TOKEN"}
)


class SettingsError(ValueError):
    """A variable holds a value the server cannot use; the message names it."""


ASYNC_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")


class Reader:
    """Reads one variable at a time and names it in any error."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def get(self, name: str, default: T, parse: Callable[[str], T]) -> T:
        raw = self.environ.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as exc:
            shown = name if name in SECRET_VARIABLES else f"{name}={raw!r}"
            raise SettingsError(f"{shown} is not valid: {exc}") from None


def parse_bool(raw: str) -> bool:
    value = raw.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def port_number(raw: str) -> int:
    port = int_value(raw)
    if not 0 < port < 65536:
        raise ValueError("expected a port from 1 to 65535")
    return port


def int_value(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError("expected an integer") from None


def positive_int(raw: str) -> int:
    value = int_value(raw)
    if value <= 0:
        raise ValueError("expected an integer above 0")
    return value


MIN_CONTEXT_TOKENS = 256


def context_tokens(raw: str) -> int:
    value = int_value(raw)
    if value < MIN_CONTEXT_TOKENS:
        raise ValueError(f"expected a context window of at least {MIN_CONTEXT_TOKENS} tokens")
    return value


def non_negative_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of seconds") from None
    if not value >= 0 or value == float("inf"):
        raise ValueError("expected a finite number of seconds, 0 or more")
    return value


def positive_float(raw: str) -> float:
    value = non_negative_float(raw)
    if value == 0:
        raise ValueError("expected a number of seconds above 0")
    return value


def parse_secret(raw: str) -> str:
    if len(raw) < 32:
        raise ValueError("a JWT secret needs at least 32 characters")
    return raw


def metrics_token(raw: str) -> str:
    if len(raw) < 16:
        raise ValueError("a metrics token needs at least 16 characters")
    return raw


def parse_http_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// URL")
    return raw


def parse_db_url(raw: str) -> str:
    try:
        url: URL = make_url(raw)
    except ArgumentError:
        raise ValueError("not a database URL") from None
    if url.drivername not in ASYNC_DRIVERS:
        raise ValueError(
            f"driver {url.drivername!r} is not async; use one of {', '.join(ASYNC_DRIVERS)} "
            "(e.g. postgresql+asyncpg://user@host/db)"
        )
    return raw


def parse_postgres_url(raw: str) -> str:
    url = parse_db_url(raw)
    if make_url(url).get_backend_name() != "postgresql":
        raise ValueError("expected a postgresql+asyncpg:// URL")
    return url


def log_level(raw: str) -> str:
    value = raw.upper()
    if value not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return value


def log_format(raw: str) -> LogFormat:
    value = raw.lower()
    if value == "text":
        return "text"
    if value == "json":
        return "json"
    raise ValueError("expected text or json")


def origins(raw: str) -> tuple[str, ...]:
    found = tuple(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())
    for origin in found:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ValueError(
                f"{origin!r} is not an origin; expected a comma-separated list like "
                "https://chat.example.com,http://localhost:5173, or *"
            )
    return found

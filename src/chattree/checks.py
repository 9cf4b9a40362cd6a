"""What `chattree check` verifies, one finding per line, and the model-server warning
that `chattree serve` logs at start-up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import IO

import aiohttp
from sqlalchemy import text
from sqlalchemy.engine import make_url

from chattree.db.engine import create_database
from chattree.db.migrate import revisions
from chattree.errors import UpstreamError
from chattree.llm import create_model_client
from chattree.settings import Settings, SettingsError

log = logging.getLogger("chattree")

SET_A_MODEL = (
    "set MODEL_BASE_URL to an OpenAI-compatible server (and MODEL_API_KEY if it needs one), "
    "or run `chattree demo` to try ChatTree with its built-in demo model"
)


@dataclass(frozen=True, slots=True)
class Finding:
    ok: bool
    what: str
    detail: str

    def line(self) -> str:
        return f"{'OK  ' if self.ok else 'FAIL'}  {self.what}: {self.detail}"


async def check(environ: dict[str, str] | None, out: IO[str]) -> bool:
    """Prints one line per finding as soon as it is made; True when nothing failed."""
    ok = True
    async for finding in findings(environ):
        print(finding.line(), file=out, flush=True)
        ok = ok and finding.ok
    return ok


async def findings(environ: dict[str, str] | None) -> AsyncIterator[Finding]:
    try:
        settings = Settings.from_env(environ)
    except SettingsError as exc:
        yield Finding(False, "configuration", str(exc))
        return
    yield Finding(True, "configuration", describe(settings))
    for finding in await database_findings(settings):
        yield finding
    for finding in await model_findings(settings):
        yield finding


def describe(settings: Settings) -> str:
    url = make_url(settings.db_url).render_as_string(hide_password=True)
    return f"DB_URL={url}, MODEL_BASE_URL={settings.model_base_url}"


async def database_findings(settings: Settings) -> list[Finding]:
    path = settings.sqlite_path()
    if path is not None and not path.exists():
        # Connecting would create the file; checking should change nothing.
        return [
            Finding(True, "database", f"{path} does not exist yet; the server creates it"),
            Finding(False, "migrations", "no schema yet: run `chattree migrate`"),
        ]
    db = create_database(settings)
    try:
        try:
            async with db.reader() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:  # whatever the driver raises, the operator reads it here
            return [Finding(False, "database", f"cannot connect: {first_line(exc)}")]
        found = [Finding(True, "database", f"{db.engine.dialect.name} answers")]
        current, heads = await revisions(db)
        return [*found, migrations_finding(current, heads)]
    finally:
        await db.dispose()


def migrations_finding(current: set[str], heads: set[str]) -> Finding:
    if current == heads:
        return Finding(True, "migrations", f"at {', '.join(sorted(heads))} (the latest)")
    if not current:
        return Finding(False, "migrations", "no schema yet: run `chattree migrate`")
    if current - heads and not heads - current:
        return Finding(
            False,
            "migrations",
            f"the database is at {', '.join(sorted(current))}, which this version of "
            "ChatTree does not know: it was migrated by a newer version",
        )
    return Finding(
        False,
        "migrations",
        f"at {', '.join(sorted(current))}, behind {', '.join(sorted(heads))}: "
        "run `chattree migrate`",
    )


async def model_findings(settings: Settings) -> list[Finding]:
    async with aiohttp.ClientSession() as http:
        client = create_model_client(settings, http)
        try:
            models = await client.list_models()
        except UpstreamError as exc:
            return [Finding(False, "model server", f"{exc.message}; {SET_A_MODEL}")]
    served = Finding(True, "model server", f"{client.base_url} answers")
    return [served, models_finding(models, settings.default_model)]


def models_finding(models: list[str], default_model: str | None) -> Finding:
    if not models:
        return Finding(False, "models", "the model server lists no models")
    listed = ", ".join(models[:10]) + (f" and {len(models) - 10} more" if len(models) > 10 else "")
    if default_model is None:
        return Finding(True, "models", f"{listed}; new conversations use {models[0]}")
    if default_model not in models:
        return Finding(
            False, "models", f"DEFAULT_MODEL={default_model!r} is not among them: {listed}"
        )
    return Finding(True, "models", f"{listed}; new conversations use {default_model}")


@asynccontextmanager
async def model_server_warning(settings: Settings) -> AsyncIterator[None]:
    """While the block runs, asks the model server once for its models and logs one
    warning, saying what to set, if it does not answer or lacks DEFAULT_MODEL. The
    server starts either way: the model server may come up later."""

    async def probe() -> None:
        findings = await model_findings(settings)
        for finding in findings:
            if not finding.ok:
                log.warning("model server: %s", finding.detail)
                return

    task = asyncio.create_task(probe())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__

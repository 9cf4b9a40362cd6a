"""The server under test as a child process (`chattree serve`), with what the suite
reads of it from /proc: CPU time and resident memory."""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from tests.harness import Client
from tests.processes import ServerProcess, serving

from bench import SIGNATURE

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def server_env(db_url: str, model_url: str, **extra: str) -> dict[str, str]:
    return {
        "DB_URL": db_url,
        "SIGNATURE": SIGNATURE,
        "MODEL_BASE_URL": model_url,
        "USE_HASH": "false",
        "LOGIN_ATTEMPTS_PER_MINUTE": "1000000",
        "REGISTRATIONS_PER_HOUR": "1000000",
        # One benchmark user starts hundreds of replies at once.
        "MAX_STREAMS_PER_USER": "1000000",
        "PROMPTS_PER_MINUTE": "1000000",
        "WS_MAX_OPERATIONS": "100000",
        "SHUTDOWN_GRACE": "0",
        "MODEL_FIRST_TOKEN_TIMEOUT": "600",
        "MODEL_IDLE_TIMEOUT": "600",
    } | extra


@asynccontextmanager
async def chattree(env: dict[str, str]) -> AsyncIterator[ServerProcess]:
    with tempfile.TemporaryDirectory(prefix="chattree-bench-log-") as logs:
        async with serving(env, Path(logs) / "server.log") as server:
            yield server


@asynccontextmanager
async def client(url: str, connections: int = 100) -> AsyncIterator[Client]:
    # Idle connections are dropped before uvicorn's 5 s keep-alive would close them: a
    # request on a connection the server is closing fails with "Server disconnected".
    connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=2)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        yield Client(url, http)


async def user(api: Client, name: str) -> tuple[str, int]:
    """A new account: its token and id."""
    token = await api.register(name)
    return token, int((await api.ok("{ me { id } }", token=token))["me"]["id"])


def pid_of(server: ServerProcess) -> int:
    assert server.process is not None
    return server.process.pid


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE


async def post_bytes(api: Client, query: str, variables: dict[str, object], *, token: str) -> bytes:
    """The raw body of a GraphQL request: timings stop when the bytes are in, before the
    client's own JSON decoding."""
    async with api.http.post(
        f"{api.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    ) as response:
        response.raise_for_status()
        return await response.read()

"""`chattree serve` as a real child process, and clients to talk to it.

A test starts one or more servers with `serving(...)`; when the block raises, the
server's log (its standard error) is attached to the exception, so a failure shows what
the server said. Every wait here is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import aiohttp

from chattree.db.engine import create_database
from chattree.db.models import Message
from chattree.settings import Settings
from tests import ws
from tests.harness import Client

T = TypeVar("T")

CHATTREE = str(Path(sys.executable).with_name("chattree"))
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
PORT_TAKEN = b"address already in use"
# Variables of this environment a child needs to run at all; everything else is explicit.
INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "PYTHONPATH")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ServerProcess:
    """One `chattree serve` child with its own port and log file."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    # Started as `uvicorn chattree.app:app` instead of `chattree serve`.
    plain_uvicorn: bool = False
    command: str = "serve"  # or "demo"
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None
    _log_start: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def launch(self) -> None:
        """Starts the child and returns at once (see `ready`)."""
        env = {name: os.environ[name] for name in INHERITED if name in os.environ}
        env |= self.env | {"UVICORN_HOST": "127.0.0.1", "UVICORN_PORT": str(self.port)}
        if self._log is not None:
            self._log.close()
        self._log = self.log_path.open("ab")
        self._log_start = self._log.tell()
        command = [CHATTREE, self.command]
        if self.plain_uvicorn:
            address = ["--host", "127.0.0.1", "--port", str(self.port)]
            command = [sys.executable, "-m", "uvicorn", "chattree.app:app", *address]
        self.process = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )

    async def ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until /healthz answers, i.e. migrations ran and the lifespan started (needs
        uvicorn's "running on" line in the log: LOG_LEVEL INFO, the default)."""
        async with aiohttp.ClientSession() as http:
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        if self.returncode is not None and self._logged(PORT_TAKEN):
                            # Another process took the port after it was chosen.
                            self.port = free_port()
                            self.launch()
                        if self.returncode is not None:
                            raise RuntimeError(
                                f"chattree serve exited with {self.returncode} before it was "
                                f"ready:\n{self.output()}"
                            )
                        # The log line first: until our child listens, the port may be
                        # another process's.
                        if self._logged(f"Uvicorn running on {self.url}".encode()):
                            with contextlib.suppress(aiohttp.ClientError):
                                async with http.get(f"{self.url}/healthz") as response:
                                    if response.status == 200:
                                        return
                        await asyncio.sleep(0.05)
            except TimeoutError:
                raise RuntimeError(
                    f"chattree serve was not ready within {timeout} s:\n{self.output()}"
                ) from None

    def _logged(self, text: bytes) -> bool:
        """Whether the child launched last wrote `text` to its log."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return text in log.read()

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    async def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """The exit status (negative: killed by that signal)."""
        assert self.process is not None
        try:
            async with asyncio.timeout(timeout):
                while True:
                    code = self.process.poll()
                    if code is not None:
                        return code
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(
                f"chattree serve did not exit within {timeout} s:\n{self.output()}"
            ) from None

    async def stop(self) -> None:
        """SIGTERM, and SIGKILL if it does not go in time; safe to call twice."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await self.wait()
            except AssertionError:
                self.process.kill()
                await self.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def output(self) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no output)"
        return text[-20_000:]


@asynccontextmanager
async def serving(
    env: dict[str, str], log_path: Path, *, plain_uvicorn: bool = False, command: str = "serve"
) -> AsyncIterator[ServerProcess]:
    """A started server; stopped afterwards, its log attached to any failure."""
    server = ServerProcess(env, log_path, plain_uvicorn=plain_uvicorn, command=command)
    async with attached_log(server):
        server.launch()
        await server.ready()
        yield server


@asynccontextmanager
async def serving_together(
    env: dict[str, str], log_dir: Path, count: int
) -> AsyncIterator[list[ServerProcess]]:
    """`count` servers on one database, launched at the same moment."""
    servers = [ServerProcess(env, log_dir / f"server-{n}.log") for n in range(count)]
    async with contextlib.AsyncExitStack() as stack:
        for server in servers:
            await stack.enter_async_context(attached_log(server))
        for server in servers:
            server.launch()
        await asyncio.gather(*(server.ready() for server in servers))
        yield servers


@asynccontextmanager
async def attached_log(server: ServerProcess) -> AsyncIterator[None]:
    """Stops `server` when the block ends; a failure inside shows the server's log."""
    try:
        yield
    except Exception as exc:
        await server.stop()
        exc.add_note(f"--- chattree serve on port {server.port} ---\n{server.output()}")
        raise
    finally:
        await server.stop()


@asynccontextmanager
async def client(server: ServerProcess) -> AsyncIterator[Client]:
    # Lets pooled connections go before uvicorn's 5 s keep-alive closes them (harness.py).
    connector = aiohttp.TCPConnector(keepalive_timeout=1.0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=30)
    ) as http:
        yield Client(server.url, http)


class Stream:
    """The events of one messageStream subscription, kept as they are read."""

    def __init__(self, operation: ws.Operation) -> None:
        self.operation = operation
        self.events: list[dict[str, Any]] = []

    @property
    def text(self) -> str:
        return ws.content_of(self.events)

    async def next(self, timeout: float = ws.TIMEOUT) -> dict[str, Any] | None:
        """The next event, or None once the server completed the subscription."""
        data = await self.operation.next(timeout)
        if data is None:
            return None
        event: dict[str, Any] = data["messageStream"]
        self.events.append(event)
        return event

    async def until_text(self, min_chars: int = 1, timeout: float = ws.TIMEOUT) -> str:
        """Reads events until at least `min_chars` of content arrived."""
        async with asyncio.timeout(timeout):
            while len(self.text) < min_chars:
                event = await self.next(timeout)
                assert event is not None and not event["done"], f"ended early: {self.events}"
        return self.text

    async def until_done(self, status: str, timeout: float = 20.0) -> dict[str, Any]:
        """Reads to the end: one done event, with `status`, and the subscription completes."""
        async with asyncio.timeout(timeout):
            while await self.next(timeout) is not None:
                pass
        ws.assert_well_formed(self.events, status)
        return self.events[-1]


@asynccontextmanager
async def stream(server: ServerProcess, token: str, message_id: str) -> AsyncIterator[Stream]:
    """Subscribes to the live events of `message_id` on `server` (graphql-transport-ws)."""
    async with ws.connect(server.ws_url, token=token) as connection:
        yield Stream(await ws.subscribe_stream(connection, message_id))


async def stored_message(db_url: str, message_id: str) -> Message:
    """The row as the database holds it, read without any server."""
    db = create_database(Settings(db_url=db_url))
    try:
        async with db.reader() as session:
            row = await session.get(Message, int(message_id))
    finally:
        await db.dispose()
    assert row is not None, f"message {message_id} is gone"
    return row


async def wait_until(
    condition: Callable[[], Awaitable[T]],
    *,
    timeout: float = 15.0,
    every: float = 0.1,
    what: str = "condition",
) -> T:
    """Polls the coroutine function `condition` until it returns something truthy."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                result = await condition()
                if result:
                    return result
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}") from None

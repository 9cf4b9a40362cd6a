"""The broker of many processes: items travel through PostgreSQL LISTEN/NOTIFY.

Each process holds two connections of its own: one that only LISTENs, and one that
sends. An item reaches the subscribers of the process that publishes it at once, and
the other processes through NOTIFY; each notification names the process it came from,
so a process's own come back over LISTEN only to be skipped. Every reply is generated
by one process at a time, in order, so each subscriber still sees its message's events
in the order they were published, wherever it is. Notifications sent while the
listening connection is down are lost; after reconnecting, every local subscriber is
told to resync from a snapshot.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Final, Protocol

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from chattree.broker.base import QUEUE_SIZE, Broker, Event, Item, decode, encode

log = logging.getLogger(__name__)

# PostgreSQL refuses payloads of 8000 bytes or more; keep a margin below it (the
# origin tag adds 23 bytes).
PAYLOAD_LIMIT: Final = 7900
ERROR_LIMIT: Final = 1000
# Bounds memory while the database is unreachable: past it the oldest payloads are dropped.
MAX_PENDING: Final = 10_000
# Notifications sent in one statement at most. One round trip per event would make a
# busy process's events queue behind each other (seconds behind at 50 live streams);
# PostgreSQL delivers the notifications of one statement in the order they were sent.
BATCH: Final = 200

FIRST_DELAY: Final = 0.1
MAX_DELAY: Final = 5.0
WARN_EVERY: Final = 60.0
CONNECT_TIMEOUT: Final = 10.0
QUERY_TIMEOUT: Final = 10.0
# A connection can die without the socket saying so; ask it now and then.
HEALTH_CHECK_EVERY: Final = 30.0
CLOSE_TIMEOUT: Final = 2.0
# How long start() waits for its own notification to come back over LISTEN.
PROBE_TIMEOUT: Final = 5.0

LISTENER_NAME: Final = "chattree-listen"
SENDER_NAME: Final = "chattree-notify"


class _Connection(Protocol):
    """The part of `asyncpg.Connection` this module uses (asyncpg ships no types)."""

    def is_closed(self) -> bool: ...
    def terminate(self) -> None: ...
    async def close(self) -> None: ...
    async def execute(self, query: str, *args: object) -> str: ...
    async def add_listener(self, channel: str, callback: Callable[..., None]) -> None: ...
    async def remove_listener(self, channel: str, callback: Callable[..., None]) -> None: ...
    def add_termination_listener(self, callback: Callable[[Any], None]) -> None: ...


class PostgresBroker(Broker):
    def __init__(
        self, *, url: str, channel: str = "chattree", queue_size: int = QUEUE_SIZE
    ) -> None:
        super().__init__(queue_size=queue_size)
        if not 0 < len(channel.encode()) < 64:
            raise ValueError("the channel must be a PostgreSQL identifier of 1 to 63 bytes")
        self.channel = channel
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._outbox: deque[str] = deque()
        self._sending: list[str] = []
        self._pending = asyncio.Event()
        self._drained = asyncio.Event()
        self._drained.set()
        self._listener_lost = asyncio.Event()
        self._listener: _Connection | None = None
        self._sender: _Connection | None = None
        self._dropped = 0
        self._tasks: tuple[asyncio.Task[None], ...] = ()
        self._closed = False
        # Opens every notification this process sends (see `tag`).
        self._own_tag = tag(secrets.token_hex(8))

    async def start(self) -> None:
        """Returns once LISTEN is active: every item published after that reaches us."""
        if self._closed:
            raise RuntimeError("a closed broker cannot start again")
        if self._tasks:
            return
        self._listener = await self._open_listener()
        try:
            self._sender = await self._connect(SENDER_NAME)
            await self._prove_listening(self._listener, self._sender)
        except BaseException:
            await self._close_connections()
            raise
        self._tasks = (
            asyncio.create_task(self._listen_forever(), name="chattree-broker-listen"),
            asyncio.create_task(self._send_forever(), name="chattree-broker-send"),
        )
        for task in self._tasks:
            task.add_done_callback(_report_crash)

    async def close(self) -> None:
        """Sends what is pending for a moment, then stops and disconnects."""
        if self._closed:
            return
        self._closed = True
        if self._tasks and not self._drained.is_set():
            try:
                await asyncio.wait_for(self._drained.wait(), CLOSE_TIMEOUT)
            except TimeoutError:
                unsent = len(self._outbox) + len(self._sending)
                log.warning("closing with %d notifications unsent", unsent)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = ()
        self._outbox.clear()
        await self._close_connections()

    def publish(self, item: Item) -> None:
        if self._closed:
            log.debug("broker closed; dropping %s", item)
            return
        # Here without the round trip through PostgreSQL, and whole: the payload limit
        # applies to the other processes only.
        self.dispatch(item)
        payload = fit(item)
        if payload is None:
            return
        payload = self._own_tag + payload[1:]
        if len(self._outbox) >= MAX_PENDING:
            self._outbox.popleft()
            if not self._dropped:
                log.warning("%d notifications pending; dropping the oldest", MAX_PENDING)
            self._dropped += 1
        self._outbox.append(payload)
        self._drained.clear()
        self._pending.set()

    # Listening

    async def _open_listener(self) -> _Connection:
        connection = await self._connect(LISTENER_NAME)
        try:
            connection.add_termination_listener(self._on_termination)
            await connection.add_listener(self.channel, self._on_notification)
        except BaseException:
            connection.terminate()
            raise
        return connection

    async def _prove_listening(self, listener: _Connection, sender: _Connection) -> None:
        """Refuses to start when a notification does not come back. Through a
        transaction pooler (PgBouncer) LISTEN is run by whichever server session the
        pooler lends for it, and that session is then lent to others: every live event
        would be lost without an error."""
        channel = f"chattree_probe_{secrets.token_hex(8)}"
        heard = asyncio.Event()

        def on_probe(*_: object) -> None:
            heard.set()

        await listener.add_listener(channel, on_probe)
        try:
            await sender.execute("SELECT pg_notify($1, 'probe')", channel)
            await asyncio.wait_for(heard.wait(), PROBE_TIMEOUT)
        except TimeoutError:
            raise RuntimeError(
                f"PostgreSQL LISTEN heard nothing within {PROBE_TIMEOUT:g} s. Is the database "
                "URL a transaction pooler such as PgBouncer? Then set DB_DIRECT_URL to the "
                "PostgreSQL server's own address (see docs/deployment.md)"
            ) from None
        finally:
            if not listener.is_closed():
                await listener.remove_listener(channel, on_probe)

    def _on_termination(self, connection: object) -> None:
        # Also called for connections this broker closes or replaces: ignore those.
        if connection is self._listener and not self._closed:
            self._listener_lost.set()

    def _on_notification(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        if payload.startswith(self._own_tag):
            return  # dispatched here when it was published
        try:
            item = decode(payload)
        except Exception:
            log.warning("dropping a malformed notification: %.200r", payload)
            return
        self.dispatch(item)

    async def _listen_forever(self) -> None:
        while True:
            await self._until_listener_lost()
            log.warning("lost the LISTEN connection to PostgreSQL; reconnecting")
            self._listener_lost.clear()
            lost, self._listener = self._listener, None
            if lost is not None:
                lost.terminate()
            backoff = _Backoff("LISTEN")
            while self._listener is None:
                try:
                    self._listener = await self._open_listener()
                except Exception as exc:
                    await backoff.wait(exc)
            backoff.succeeded()
            # Whatever was sent while we were away is lost: subscribers take a snapshot.
            self.resync_all()

    async def _until_listener_lost(self) -> None:
        while (connection := self._listener) is not None and not connection.is_closed():
            try:
                await asyncio.wait_for(self._listener_lost.wait(), HEALTH_CHECK_EVERY)
                return
            except TimeoutError:
                try:
                    async with asyncio.timeout(QUERY_TIMEOUT):
                        await connection.execute("SELECT 1")
                except Exception:
                    return

    # Sending

    async def _send_forever(self) -> None:
        while True:
            if not self._outbox:
                if self._dropped:
                    log.warning("dropped %d notifications that could not be sent", self._dropped)
                    self._dropped = 0
                self._drained.set()
                self._pending.clear()
                await self._pending.wait()
                continue
            count = min(len(self._outbox), BATCH)
            self._sending = [self._outbox.popleft() for _ in range(count)]
            await self._send(self._sending)
            self._sending = []

    async def _send(self, payloads: list[str]) -> None:
        """Sends payloads in order, reconnecting as long as it takes so that order is kept."""
        backoff = _Backoff("NOTIFY")
        while True:
            try:
                if self._sender is None or self._sender.is_closed():
                    self._sender = None
                    self._sender = await self._connect(SENDER_NAME)
                async with asyncio.timeout(QUERY_TIMEOUT):
                    await self._sender.execute(
                        "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
                        self.channel,
                        payloads,
                    )
            except Exception as exc:
                sender = self._sender
                if isinstance(exc, TimeoutError) and sender is not None:
                    # Perhaps sent already: the retry may repeat it, which seq numbers absorb.
                    sender.terminate()
                if sender is not None and not sender.is_closed():
                    log.error(
                        "PostgreSQL refused %d notifications; dropping them",
                        len(payloads),
                        exc_info=exc,
                    )
                    return
                await backoff.wait(exc)
            else:
                backoff.succeeded()
                return

    # Connections

    async def _connect(self, name: str) -> _Connection:
        connection: _Connection = await asyncpg.connect(
            self._dsn, timeout=CONNECT_TIMEOUT, server_settings={"application_name": name}
        )
        return connection

    async def _close_connections(self) -> None:
        connections = (self._listener, self._sender)
        self._listener = self._sender = None
        for connection in connections:
            if connection is None:
                continue
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await connection.close()
            except Exception:
                connection.terminate()


def tag(origin: str) -> str:
    """The start of a payload sent by `origin`: its first JSON key, which `decode`
    ignores, so one look at the text tells a process its own notifications."""
    return '{"o":"' + origin + '",'


def fit(item: Item) -> str | None:
    """Encodes `item` within PostgreSQL's payload limit, or None if it cannot be."""
    payload = encode(item)
    if _size(payload) <= PAYLOAD_LIMIT or not isinstance(item, Event):
        return payload
    # Too large to travel: send the step without its text; subscribers take a snapshot.
    error = item.error[:ERROR_LIMIT] if item.error else item.error
    while True:
        stub = dataclasses.replace(item, delta="", reasoning_delta="", error=error, resync=True)
        payload = encode(stub)
        if _size(payload) <= PAYLOAD_LIMIT:
            return payload
        if not error:
            log.error("event of message %d too large to notify; dropping it", item.message_id)
            return None
        error = error[: len(error) // 2]


def _size(payload: str) -> int:
    return len(payload.encode())


def _report_crash(task: asyncio.Task[None]) -> None:
    # The tasks catch every expected failure: anything else is a bug, shown at once.
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.error(
            "%s crashed; this process no longer hears or sends events",
            task.get_name(),
            exc_info=exc,
        )


class _Backoff:
    """Waits between attempts (0.1 s doubling to 5 s); warns once, then once a minute."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.attempts = 0
        self.delay = FIRST_DELAY
        self.warned_at: float | None = None

    async def wait(self, exc: BaseException) -> None:
        self.attempts += 1
        now = time.monotonic()
        if self.warned_at is None or now - self.warned_at >= WARN_EVERY:
            self.warned_at = now
            log.warning(
                "%s: cannot reach PostgreSQL (%s: %s); attempt %d, retrying",
                self.what,
                type(exc).__name__,
                exc,
                self.attempts,
            )
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, MAX_DELAY)

    def succeeded(self) -> None:
        if self.attempts:
            log.info("%s: reconnected after %d attempts", self.what, self.attempts)
        self.attempts = 0
        self.delay = FIRST_DELAY
        self.warned_at = None

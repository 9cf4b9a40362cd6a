"""The PostgreSQL broker: two brokers on one database stand for two processes."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest
import pytest_asyncio

from chattree.broker import (
    RESYNC,
    Change,
    Event,
    Item,
    Notice,
    NoticeKind,
    PostgresBroker,
    Subscription,
)
from chattree.broker.base import Resync
from chattree.broker.postgres import ERROR_LIMIT, LISTENER_NAME, SENDER_NAME

SERVER = "postgres@127.0.0.1:5432"
# Generous: only a broken broker ever waits this long.
WAIT = 20.0

StartBroker = Callable[..., Awaitable[PostgresBroker]]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def database() -> AsyncIterator[str]:
    try:
        admin = await asyncpg.connect(f"postgresql://{SERVER}/test", timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        message = f"PostgreSQL is unreachable at {SERVER}: {exc!r}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"chattree_broker_{secrets.token_hex(4)}"
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield name
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def admin(database: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the test's own, playing the database administrator."""
    connection = await asyncpg.connect(f"postgresql://{SERVER}/{database}")
    yield connection
    await connection.close()


@pytest.fixture
async def start_broker(database: str) -> AsyncIterator[StartBroker]:
    brokers: list[PostgresBroker] = []

    async def start(*, queue_size: int = 1024) -> PostgresBroker:
        broker = PostgresBroker(
            url=f"postgresql+asyncpg://{SERVER}/{database}", queue_size=queue_size
        )
        brokers.append(broker)
        await broker.start()
        return broker

    yield start
    for broker in brokers:
        await broker.close()


@pytest.fixture
async def brokers(start_broker: StartBroker) -> tuple[PostgresBroker, PostgresBroker]:
    return await start_broker(), await start_broker()


async def next_item(subscription: Subscription) -> Item | Resync:
    return await asyncio.wait_for(subscription.get(), WAIT)


async def next_event(subscription: Subscription) -> Event:
    item = await next_item(subscription)
    assert isinstance(item, Event), item
    return item


async def backend_pids(admin: asyncpg.Connection, application_name: str) -> list[int]:
    rows = await admin.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND application_name = $1",
        application_name,
    )
    return [row["pid"] for row in rows]


async def kill(admin: asyncpg.Connection, pid: int) -> None:
    # The timeout makes the server wait until the backend is gone.
    assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", pid)


async def test_events_reach_the_other_process_in_order_and_their_own_at_once_and_once(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    on_a, on_b = a.subscribe(1), b.subscribe(1)
    sent = [Event(message_id=1, seq=seq, delta=f"token {seq} ") for seq in range(1, 4)]

    for event in sent:
        a.publish(event)
    # Queued before anything was awaited: no round trip through PostgreSQL.
    assert [on_a.get_ready() for _ in sent] == sent
    assert [await next_event(on_b) for _ in sent] == sent
    # PostgreSQL hands every listener the notifications in the order they were sent, so
    # once b's marker reaches a, a's own notifications have come back too: and were
    # skipped.
    marker = Event(message_id=1, seq=4, delta="from b")
    b.publish(marker)
    assert await next_event(on_a) == marker
    assert on_a.get_ready() is None


async def test_an_event_too_large_to_notify_reaches_its_own_process_whole(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    on_a, on_b = a.subscribe(1), b.subscribe(1)
    large = Event(message_id=1, seq=7, delta="x" * 9000, done=True)

    a.publish(large)

    assert on_a.get_ready() == large
    assert await next_event(on_b) == Event(message_id=1, seq=7, done=True, resync=True)


async def test_five_hundred_events_in_a_row_arrive_in_order_without_loss(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    on_a, on_b = a.subscribe(1), b.subscribe(1)

    for seq in range(1, 501):
        a.publish(Event(message_id=1, seq=seq, delta="x"))

    for subscription in (on_b, on_a):
        assert [(await next_event(subscription)).seq for _ in range(500)] == list(range(1, 501))


async def test_a_subscriber_of_another_message_gets_nothing(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    other = b.subscribe(2)

    a.publish(Event(message_id=1, seq=1, delta="not yours"))
    a.publish(Event(message_id=2, seq=1, delta="yours"))

    assert await next_event(other) == Event(message_id=2, seq=1, delta="yours")


async def test_cancel_and_flush_requests_reach_every_process_and_no_subscriber(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    requests: dict[PostgresBroker, asyncio.Queue[Notice]] = {}
    for broker in brokers:
        requests[broker] = asyncio.Queue()
        broker.on_request = requests[broker].put_nowait
    subscriptions = a.subscribe(5), b.subscribe(5)
    cancel, flush = Notice(NoticeKind.CANCEL, 5), Notice(NoticeKind.FLUSH, 5)

    b.publish(cancel)
    b.publish(flush)
    a.publish(Notice(NoticeKind.FLUSHED, 5, seq=12))

    for broker in brokers:
        received = [await asyncio.wait_for(requests[broker].get(), WAIT) for _ in range(2)]
        assert received == [cancel, flush]
    for subscription in subscriptions:
        assert await next_item(subscription) == Notice(NoticeKind.FLUSHED, 5, seq=12)


async def test_an_event_too_large_to_notify_arrives_as_a_resync_with_the_same_seq(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    subscription = b.subscribe(1)

    a.publish(Event(message_id=1, seq=7, delta="x" * 9000, reasoning_delta="why", done=True))

    assert await next_event(subscription) == Event(message_id=1, seq=7, done=True, resync=True)


async def test_the_size_limit_counts_bytes_not_characters(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    subscription = b.subscribe(1)

    a.publish(Event(message_id=1, seq=3, delta="€" * 3000))  # 3000 characters, 9000 bytes

    assert await next_event(subscription) == Event(message_id=1, seq=3, resync=True)


async def test_an_event_under_the_limit_with_multibyte_text_arrives_intact(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    subscription = b.subscribe(1)
    event = Event(message_id=1, seq=3, delta="é🙂" * 1000, reasoning_delta="思考 \x00\n")

    a.publish(event)

    assert await next_event(subscription) == event


async def test_the_error_of_an_event_too_large_to_notify_is_truncated(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    subscription = b.subscribe(1)

    a.publish(Event(message_id=1, seq=4, status="FAILED", done=True, error="é" * 9000))

    received = await next_event(subscription)
    assert (received.seq, received.status, received.done, received.resync) == (
        4,
        "FAILED",
        True,
        True,
    )
    assert received.error is not None
    assert 0 < len(received.error) <= ERROR_LIMIT
    assert set(received.error) == {"é"}


async def test_a_subscriber_that_falls_behind_resyncs_without_blocking_the_publisher(
    start_broker: StartBroker,
) -> None:
    a, b = await start_broker(), await start_broker(queue_size=4)
    arrived: asyncio.Queue[Notice] = asyncio.Queue()
    b.on_request = arrived.put_nowait
    slow = b.subscribe(1)

    for seq in range(1, 21):
        a.publish(Event(message_id=1, seq=seq))
    a.publish(Notice(NoticeKind.CANCEL, 1))
    # The channel is ordered: once the request is here, so are all twenty events.
    await asyncio.wait_for(arrived.get(), WAIT)

    assert await next_item(slow) is RESYNC
    a.publish(Event(message_id=1, seq=21))
    seqs = [(await next_event(slow)).seq]
    while seqs[-1] != 21:
        seqs.append((await next_event(slow)).seq)
    assert seqs == sorted(seqs)


async def test_unsubscribing_stops_delivery(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    leaving, staying = b.subscribe(1), b.subscribe(1)
    a.publish(Event(message_id=1, seq=1))
    for subscription in (leaving, staying):
        assert (await next_event(subscription)).seq == 1

    leaving.close()
    a.publish(Event(message_id=1, seq=2))

    assert (await next_event(staying)).seq == 2
    marker = Event(message_id=1, seq=-1)
    leaving.deliver(marker)
    assert await next_item(leaving) == marker


async def test_a_malformed_notification_is_logged_and_dropped(
    brokers: tuple[PostgresBroker, PostgresBroker],
    admin: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a, b = brokers
    subscription = b.subscribe(1)

    with caplog.at_level(logging.WARNING, logger="chattree.broker.postgres"):
        await admin.execute("SELECT pg_notify($1, 'not json')", b.channel)
        a.publish(Event(message_id=1, seq=1))

        assert await next_event(subscription) == Event(message_id=1, seq=1)
    assert "malformed notification" in caplog.text


async def test_a_killed_listening_connection_is_replaced_and_subscribers_resync(
    start_broker: StartBroker,
    admin: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    a = await start_broker()
    [listener] = await backend_pids(admin, LISTENER_NAME)
    b = await start_broker()
    on_a, on_b = a.subscribe(1), b.subscribe(1)

    with caplog.at_level(logging.WARNING, logger="chattree.broker.postgres"):
        await kill(admin, listener)

        assert await next_item(on_a) is RESYNC
    assert "lost the LISTEN connection" in caplog.text
    assert "Traceback" not in caplog.text

    b.publish(Event(message_id=1, seq=2))
    a.publish(Event(message_id=1, seq=3))
    # Both hear each other again. (Two processes publishing at once may interleave
    # differently on each: only one process at a time generates a given reply.)
    for subscription in (on_a, on_b):
        assert sorted([(await next_event(subscription)).seq for _ in range(2)]) == [2, 3]
    assert len(await backend_pids(admin, LISTENER_NAME)) == 2


async def test_a_killed_sending_connection_is_replaced_without_losing_or_reordering_events(
    brokers: tuple[PostgresBroker, PostgresBroker],
    admin: asyncpg.Connection,
) -> None:
    a, b = brokers
    subscription = b.subscribe(1)
    for pid in await backend_pids(admin, SENDER_NAME):
        await kill(admin, pid)

    for seq in range(1, 6):
        a.publish(Event(message_id=1, seq=seq))
        b.publish(Event(message_id=2, seq=seq))

    assert [(await next_event(subscription)).seq for _ in range(5)] == [1, 2, 3, 4, 5]


async def test_closing_disconnects_both_connections_and_can_be_repeated(
    start_broker: StartBroker,
    admin: asyncpg.Connection,
) -> None:
    broker = await start_broker()
    broker.publish(Event(message_id=1, seq=1))
    assert len(await backend_pids(admin, LISTENER_NAME)) == 1
    assert len(await backend_pids(admin, SENDER_NAME)) == 1

    await broker.close()
    await broker.close()

    async def backends_gone() -> None:
        # A backend may outlive its client's goodbye for a moment.
        while True:
            if not await backend_pids(admin, LISTENER_NAME) + await backend_pids(
                admin, SENDER_NAME
            ):
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(backends_gone(), WAIT)
    broker.publish(Event(message_id=1, seq=2))  # dropped, and no error
    with pytest.raises(RuntimeError):
        await broker.start()


def test_a_channel_that_is_not_a_valid_identifier_is_refused() -> None:
    with pytest.raises(ValueError):
        PostgresBroker(url=f"postgresql+asyncpg://{SERVER}/test", channel="x" * 64)


class CountingBroker(PostgresBroker):
    """Counts the statements its connections run (the sender's are the notifications)."""

    statements = 0

    async def _connect(self, name: str) -> Any:
        return Counted(await super()._connect(name), self)


class Counted:
    def __init__(self, connection: Any, broker: CountingBroker) -> None:
        self._connection = connection
        self._broker = broker

    async def execute(self, query: str, *args: object) -> str:
        self._broker.statements += 1
        result: str = await self._connection.execute(query, *args)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


async def test_a_burst_of_events_is_sent_in_few_statements_and_arrives_in_order(
    database: str, start_broker: StartBroker
) -> None:
    sender = CountingBroker(url=f"postgresql+asyncpg://{SERVER}/{database}")
    await sender.start()
    try:
        listener = await start_broker()
        subscription = listener.subscribe(7)
        before = sender.statements
        burst = 1000
        for seq in range(1, burst + 1):
            sender.publish(Event(message_id=7, seq=seq))
        received = [(await next_event(subscription)).seq for _ in range(burst)]
        assert received == list(range(1, burst + 1))
        # One statement per event would make a busy process's events wait in line.
        assert sender.statements - before <= burst // 100
    finally:
        await sender.close()


async def test_changes_reach_the_feeds_of_their_user_on_every_process(
    brokers: tuple[PostgresBroker, PostgresBroker],
) -> None:
    a, b = brokers
    alices, bobs = b.watch(1), b.watch(2)
    for event_id in (10, 11, 12):
        a.publish(Change(user_id=1, event_id=event_id))
    a.publish(Change(user_id=2, event_id=13))
    assert [await asyncio.wait_for(alices.get(), WAIT) for _ in range(3)] == [10, 11, 12]
    assert await asyncio.wait_for(bobs.get(), WAIT) == 13

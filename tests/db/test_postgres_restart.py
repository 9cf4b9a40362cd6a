"""PostgreSQL restarted under a running server (a private instance: the machine's shared
one is never touched). During the outage requests fail with a clear error and /readyz
says not ready; afterwards the server recovers by itself, LISTEN included, and replies
that were generating end with their text, or INTERRUPTED."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chattree.db import failures
from tests.conftest import IN_CI
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api
from tests.private_postgres import PrivatePostgres, binaries, private_postgres
from tests.ws import connect, next_event, published, stream_events, subscribe_stream, until

RECOVERY = 60.0  # seconds: a generous bound, never a measure
TEXT = "abcdefghijklmnopqrstuvwxyz0123456789"
CREATE = """
mutation { createConversation(content: "Hello", title: "Outage", wait: true) {
  conversation { id } assistantMessage { id } } }
"""
PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c) { assistantMessage { id } }
}
"""
READ = "query($id: ID!) { message(id: $id) { status content } }"


@pytest.fixture
async def postgres() -> AsyncIterator[PrivatePostgres]:
    if binaries() is None:
        if IN_CI:
            pytest.fail("initdb and pg_ctl are not installed and CI=true")
        pytest.skip("initdb and pg_ctl (PostgreSQL's server binaries) are not installed")
    async with private_postgres() as server:
        yield server


@pytest.fixture
def db_url(postgres: PrivatePostgres) -> str:
    return postgres.url


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # The gates stand for a model that takes its time: not a stall to time out.
    return {**server_env, "MODEL_IDLE_TIMEOUT": "600", "MODEL_FIRST_TOKEN_TIMEOUT": "600"}


async def ready(api: Api) -> bool:
    async with api.http.get(f"{api.url}/readyz") as response:
        return response.status == 200


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls `check` until it answers True (bounded)."""
    try:
        async with asyncio.timeout(RECOVERY):
            while not await check():  # noqa: ASYNC110 (the state is another process's)
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {RECOVERY} s") from None


@pytest.mark.timeout(240)
@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_the_server_rides_out_a_postgres_restart(
    api: Api, alice: str, fake_model: FakeModelServer, postgres: PrivatePostgres, mode: str
) -> None:
    across, during, after = Gate(2), Gate(2), Gate()
    for content, gate in (("Across", across), ("During", during), ("After", after)):
        fake_model.replies[content] = Reply(content=TEXT, chunk_size=3, gate=gate)
    parent = (await api.ok(CREATE, token=alice))["createConversation"]["assistantMessage"]["id"]

    async def start(content: str) -> str:
        data = await api.ok(PROMPT, {"parent": parent, "c": content}, token=alice)
        reply_id: str = data["prompt"]["assistantMessage"]["id"]
        return reply_id

    across_id, during_id = await start("Across"), await start("During")
    await until(lambda: published(api, across_id) == published(api, during_id) == 6)

    await postgres.stop(mode)
    for query, variables in ((PROMPT, {"parent": parent, "c": "Lost"}), (READ, {"id": parent})):
        error = await api.fails(query, variables, token=alice)
        assert (error["message"], error["extensions"]) == (
            failures.UNREACHABLE,
            {"code": "INTERNAL"},
        )
    assert not await ready(api)
    # A reply that ends while the database is away cannot store its end now.
    during.open()
    await until(lambda: int(during_id) not in api.services.generations.replies, RECOVERY)

    await postgres.start()
    await eventually(lambda: ready(api), "/readyz saying ready again")
    assert (await api.ok(READ, {"id": parent}, token=alice))["message"]["status"] == "COMPLETE"

    # LISTEN is back: a new reply's tokens reach a subscriber while it is generating
    # (without LISTEN, nothing but the final state from the row would ever arrive).
    after_id = await start("After")
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, after_id)
        first = await next_event(operation)
        after.release()
        second = await next_event(operation, timeout=RECOVERY)
        assert (second["status"], second["done"]) == ("STREAMING", False)
        assert first["delta"] + second["delta"] == TEXT[:3]
        after.open()
        events = [first, second, *await stream_events(operation, timeout=RECOVERY)]
    assert "".join(event["delta"] for event in events) == TEXT

    # The reply held across the outage ends with its whole text.
    across.open()

    async def final(reply_id: str) -> dict[str, Any]:
        row: dict[str, Any] = {}

        async def done() -> bool:
            nonlocal row
            row = (await api.ok(READ, {"id": reply_id}, token=alice))["message"]
            return bool(row["status"] != "STREAMING")

        await eventually(done, f"reply {reply_id} ending")
        return row

    assert await final(across_id) == {"status": "COMPLETE", "content": TEXT}
    # The one that ended during the outage: its text, or INTERRUPTED with what was flushed.
    ended = await final(during_id)
    assert ended["status"] in ("COMPLETE", "INTERRUPTED")
    assert TEXT.startswith(ended["content"])

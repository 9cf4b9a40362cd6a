"""On PostgreSQL the abuse limits hold across processes: login attempts, registrations
and replies generating at once are counted in the database, so two `chattree serve`
processes on one database turn clients away exactly as one would."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Client
from tests.processes import client, serving_together
from tests.ws import CREATE

on_postgres = pytest.mark.parametrize("db_url", ["postgres"], indirect=True)

LOGIN = "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }"
REGISTER = "mutation($u: String!, $p: String!) { register(username: $u, password: $p) { token } }"


@asynccontextmanager
async def two_servers(env: dict[str, str], log_dir: Path) -> AsyncIterator[tuple[Client, Client]]:
    """Clients of two `chattree serve` processes on one database."""
    async with (
        serving_together(env, log_dir, 2) as servers,
        client(servers[0]) as first,
        client(servers[1]) as second,
    ):
        yield first, second


@on_postgres
async def test_login_attempts_are_counted_by_every_process_together(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = server_env | {"LOGIN_ATTEMPTS_PER_MINUTE": "4"}
    async with two_servers(env, tmp_path) as (first, second):
        await first.register("alice")
        for server in (first, second, first, second):
            error = await server.fails(LOGIN, {"u": "alice", "p": "wrong guess"})
            assert error["extensions"]["code"] == "UNAUTHENTICATED"
        for server in (first, second):
            error = await server.fails(LOGIN, {"u": "alice", "p": "correct horse"})
            assert error["extensions"]["code"] == "RATE_LIMITED", error
            assert 1 <= error["extensions"]["retryAfter"] <= 60


@on_postgres
async def test_registrations_are_counted_by_every_process_together(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    env = server_env | {"REGISTRATIONS_PER_HOUR": "3"}
    async with two_servers(env, tmp_path) as (first, second):
        for name, server in (("ann", first), ("ben", second), ("cat", first)):
            await server.register(name)
        for server in (first, second):
            error = await server.fails(REGISTER, {"u": "dan", "p": "correct horse"})
            assert error["extensions"]["code"] == "RATE_LIMITED", error
        # Nothing was stored for the refused name.
        error = await first.fails(LOGIN, {"u": "dan", "p": "correct horse"})
        assert error["extensions"]["code"] == "UNAUTHENTICATED"


@on_postgres
async def test_concurrent_prompts_on_two_processes_never_pass_the_stream_cap(
    server_env: dict[str, str], fake_model: FakeModelServer, tmp_path: Path
) -> None:
    fake_model.default_reply = Reply(stall_after=0)  # every reply stays STREAMING
    env = server_env | {
        "MAX_STREAMS_PER_USER": "2",
        "MODEL_FIRST_TOKEN_TIMEOUT": "60",
        "MODEL_IDLE_TIMEOUT": "60",
    }
    async with two_servers(env, tmp_path) as (first, second):
        token = await first.register("alice")
        results = await asyncio.gather(
            *(
                (first, second)[n % 2].post(CREATE, {"c": f"Race {n}"}, token=token)
                for n in range(8)
            )
        )
        refused = [r["errors"][0]["extensions"]["code"] for r in results if r.get("errors")]
        assert refused == ["RATE_LIMITED"] * 6, results
        data = await first.ok("{ conversations(first: 20) { edges { cursor } } }", token=token)
        assert len(data["conversations"]["edges"]) == 2

"""What most benchmarks start from: a scratch database with the schema, the paced model
server as a child process, and `chattree serve` on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from tests.harness import Client
from tests.processes import ServerProcess

from bench import SIGNATURE, scratch_database
from bench.rows import never_analyze
from bench.server import chattree, client, server_env, user
from bench.upstream import Upstream, upstream
from chattree.db.engine import Database, create_database
from chattree.db.migrate import upgrade
from chattree.settings import Settings

MODEL = "bench-model"


@dataclass
class Stage:
    url: str
    db: Database  # the suite's own connection, for writing rows directly
    model: Upstream
    server: ServerProcess
    api: Client
    token: str
    user_id: int

    def settings(self) -> Settings:
        return Settings(
            db_url=self.url,
            signature=SIGNATURE,
            model_base_url=self.model.base_url,
            shutdown_grace=0,
            # The append benchmark's one user prompts far faster than any person.
            max_streams_per_user=1_000_000,
            prompts_per_minute=1_000_000,
        )


@asynccontextmanager
async def stage(kind: str, *, analysed: bool = True, **env: str) -> AsyncIterator[Stage]:
    """A fresh database of `kind` served by a new server process, and one user. With
    analysed=False, PostgreSQL's autovacuum may never analyse the tables."""
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(scratch_database(kind))
        db = create_database(Settings(db_url=url))
        stack.push_async_callback(db.dispose)
        await upgrade(db)
        if not analysed:
            await never_analyze(db)
        model = await stack.enter_async_context(upstream())
        server = await stack.enter_async_context(chattree(server_env(url, model.base_url, **env)))
        api = await stack.enter_async_context(client(server.url))
        token, user_id = await user(api, "bench")
        yield Stage(url, db, model, server, api, token, user_id)

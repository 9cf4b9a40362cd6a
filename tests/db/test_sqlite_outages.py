"""SQLite that cannot take a write: a database file opened read-only, and a database
that is full. The write fails with an error that says so (no traceback, no SQL), changes
nothing, and the server goes on serving reads.

The read-only file is opened the way SQLite opens a file it may not write to (a
`mode=ro` URI: root ignores file permissions, so chmod would prove nothing here). A full
database is shown twice: with SQLite's own limit (`PRAGMA max_page_count`, SQLITE_FULL,
portable), and, where the tests may mount filesystems (root), on a real tmpfs filled to
the last byte, which cannot starve anything else on the machine.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from chattree.db import failures
from chattree.settings import Settings
from tests.harness import Api, running_server

CREATE = """
mutation($c: String!) { createConversation(content: $c, title: "Kept", wait: true) {
  conversation { id } assistantMessage { id } } }
"""
PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c, wait: true) { assistantMessage { id content } }
}
"""
READ = """
query($id: ID!) { conversation(id: $id) { title messageCount branch { content } } }
"""


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'chattree.db'}"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # Room in the model's context window for the large messages that fill the database.
    return {**server_env, "MODEL_CONTEXT_TOKENS": "400000"}


def assert_clear(error: dict[str, Any], message: str) -> None:
    assert error["message"] == message
    assert error["extensions"] == {"code": "INTERNAL"}
    assert "Traceback" not in str(error) and "INSERT" not in str(error)


async def test_a_read_only_database_file_refuses_writes_and_keeps_serving_reads(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    async with running_server(Settings.from_env(server_env)) as api:
        alice = await api.register("alice")
        created = (await api.ok(CREATE, {"c": "Hello"}, token=alice))["createConversation"]
        conversation = {"id": created["conversation"]["id"]}
        before = await api.ok(READ, conversation, token=alice)
    read_only = f"sqlite+aiosqlite:///file:{tmp_path / 'chattree.db'}?mode=ro&uri=true"
    async with running_server(Settings.from_env({**server_env, "DB_URL": read_only})) as api:
        assert await api.ok(READ, conversation, token=alice) == before
        prompt = {"parent": created["assistantMessage"]["id"], "c": "More"}
        assert_clear(await api.fails(PROMPT, prompt, token=alice), failures.READ_ONLY)
        register = 'mutation { register(username: "bob", password: "long enough") { token } }'
        assert_clear(await api.fails(register), failures.READ_ONLY)
        assert await api.ok(READ, conversation, token=alice) == before
        async with api.http.get(f"{api.url}/readyz") as response:
            assert response.status == 200


@contextmanager
def no_room_to_grow(api: Api) -> Iterator[None]:
    """Inside the block, each connection the server takes from its pool may use only the
    pages the database has then: SQLITE_FULL. The next time one is taken after the block,
    it gets its own limit back.

    Set at checkout, not by replacing the pool's connections: `engine.dispose()` on the
    running server closes the idle connections one by one, awaiting each, and a
    connection its background work (heartbeats, flushes) checks out meanwhile goes back
    to the discarded pool afterwards, where nothing closes it; the garbage collector then
    finds it unclosed (ResourceWarning) in whichever later test it runs during."""
    pool = api.services.db.engine.sync_engine.pool
    limiting = True

    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            if limiting:
                if "max_page_count" not in record.info:
                    cursor.execute("PRAGMA max_page_count")
                    (record.info["max_page_count"],) = cursor.fetchone()
                cursor.execute("PRAGMA page_count")
                (pages,) = cursor.fetchone()
                cursor.execute(f"PRAGMA max_page_count = {pages}")
            elif (own := record.info.pop("max_page_count", None)) is not None:
                cursor.execute(f"PRAGMA max_page_count = {own}")
        finally:
            cursor.close()

    # Stays for the rest of the server's life, to give the limited connections back
    # their room.
    event.listen(pool, "checkout", on_checkout)
    try:
        yield
    finally:
        limiting = False


async def test_a_full_database_refuses_writes_and_keeps_serving_reads(api: Api, alice: str) -> None:
    created = (await api.ok(CREATE, {"c": "Hello"}, token=alice))["createConversation"]
    conversation = {"id": created["conversation"]["id"]}
    before = await api.ok(READ, conversation, token=alice)
    # Far more than the free space of any page, so the insert must add pages.
    prompt = {"parent": created["assistantMessage"]["id"], "c": "x" * 50_000}
    with no_room_to_grow(api):
        assert_clear(await api.fails(PROMPT, prompt, token=alice), failures.FULL)
        assert await api.ok(READ, conversation, token=alice) == before
    # Once there is room again, the same write goes through.
    reply = (await api.ok(PROMPT, prompt, token=alice))["prompt"]["assistantMessage"]
    assert reply["content"] == "Echo: " + "x" * 50_000
    after = await api.ok(READ, conversation, token=alice)
    assert after["conversation"]["messageCount"] == before["conversation"]["messageCount"] + 2


@contextmanager
def small_filesystem(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `folder`, or a skip where mounting is not allowed."""
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("filling a real filesystem needs root, to mount a small tmpfs")
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)]
    result = subprocess.run(mount, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=True)


def fill(folder: Path) -> Path:
    """Writes a file until the filesystem has no byte left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    return filler


@asynccontextmanager
async def server_on(env: dict[str, str], database: Path) -> AsyncIterator[Api]:
    async with running_server(Settings.from_env({**env, "DB_URL": database_url(database)})) as api:
        yield api


def database_url(database: Path) -> str:
    return f"sqlite+aiosqlite:///{database}"


async def test_a_full_disk_refuses_writes_and_keeps_serving_reads(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    # A message larger than anything the database file or its WAL ever held, so the
    # write must claim new blocks of the filesystem.
    big = "y" * 900_000  # under 1 MiB: aiohttp warns about larger bodies
    env = {**server_env, "MAX_MESSAGE_LENGTH": str(len(big))}
    with small_filesystem(tmp_path / "disk", "16m") as disk:
        async with server_on(env, disk / "chattree.db") as api:
            alice = await api.register("alice")
            created = (await api.ok(CREATE, {"c": "Hello"}, token=alice))["createConversation"]
            conversation = {"id": created["conversation"]["id"]}
            before = await api.ok(READ, conversation, token=alice)
            prompt = {"parent": created["assistantMessage"]["id"], "c": big}
            filler = fill(disk)
            assert_clear(await api.fails(PROMPT, prompt, token=alice), failures.FULL)
            assert await api.ok(READ, conversation, token=alice) == before
            filler.unlink()
            reply = (await api.ok(PROMPT, prompt, token=alice))["prompt"]["assistantMessage"]
            assert reply["content"] == "Echo: " + big

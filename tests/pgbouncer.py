"""A private PgBouncer in transaction pooling mode, in front of the test PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from tests.conftest import POSTGRES
from tests.processes import free_port
from tests.tools import child, require

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
# Few server connections, so the statements of one client connection really do land
# on different server connections.
POOL_SIZE = 2


SERVER = urlsplit(POSTGRES)
USER = SERVER.username or "postgres"


def config(folder: Path, port: int) -> Path:
    server = SERVER
    (folder / "users.txt").write_text(f'"{USER}" ""\n')
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={server.hostname or '127.0.0.1'} port={server.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {POOL_SIZE}\n"
        "max_client_conn = 500\n"
        f"logfile = {folder / 'pgbouncer.log'}\npidfile = {folder / 'pgbouncer.pid'}\n"
    )
    return ini


@asynccontextmanager
async def running_pgbouncer() -> AsyncIterator[int]:
    """PgBouncer on a free loopback port (yielded) until the block ends."""
    require(os.access(PGBOUNCER, os.X_OK), "PgBouncer (Debian: apt-get install pgbouncer)")
    # Not pytest's tmp_path: its parents are closed to the user PgBouncer runs as.
    with tempfile.TemporaryDirectory(prefix="chattree-pgbouncer-") as name:
        folder = Path(name)
        port = free_port()
        ini = config(folder, port)
        async with child(PGBOUNCER, "--quiet", *run_as(folder), str(ini)) as process:
            await wait_until_serving(port, process)
            yield port


def run_as(folder: Path) -> list[str]:
    """PgBouncer refuses to run as root: then it runs as postgres, owning its folder."""
    if os.geteuid() != 0:
        return []
    account = pwd.getpwnam("postgres")
    for path in (folder, *folder.iterdir()):
        os.chown(path, account.pw_uid, account.pw_gid)
    return ["-u", "postgres"]


async def wait_until_serving(port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(15):
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"pgbouncer exited with {process.returncode}")
            try:
                connection = await asyncpg.connect(
                    f"postgresql://{USER}@127.0.0.1:{port}/postgres", statement_cache_size=0
                )
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.05)
                continue
            await connection.close()
            return

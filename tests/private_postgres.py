"""A PostgreSQL server of one test's own, in a temporary folder, that the test may stop
and start at will (the machine's shared server must never be restarted by a test).

initdb refuses to run as root, so as root the server runs as the `postgres` user.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.processes import free_port

START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl, newest version first; None when absent."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PrivatePostgres:
    bin: Path
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    async def start(self) -> None:
        options = f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1"
        await self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.folder / "log"), "-o", options,
            "-w", "-t", str(START_TIMEOUT), "start",
        )  # fmt: skip

    async def stop(self, mode: str = "fast") -> None:
        await self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    async def init(self) -> None:
        await self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust")

    async def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        process = await asyncio.create_subprocess_exec(
            *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        output, _ = await process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{tool} failed ({process.returncode}): {output.decode()}")


@asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """An initialised, running server in a folder of its own; gone at the end."""
    bin = binaries()
    assert bin is not None, "initdb and pg_ctl are not installed"
    # Not under pytest's tmp_path: its parents are private to root, and as root the
    # server runs as `postgres`, which must reach its folder.
    with tempfile.TemporaryDirectory(prefix="chattree-pg-") as name:
        folder = Path(name)
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
        server = PrivatePostgres(bin, folder, free_port())
        await server.init()
        await server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(RuntimeError):  # already stopped by the test
                await server.stop("immediate")

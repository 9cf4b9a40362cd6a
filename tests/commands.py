"""Runs a command-line tool (node, schemathesis) beside a server in this event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path


async def run_command(
    *command: str, cwd: Path, timeout: float, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """The exit status, standard output and standard error; killed after `timeout`."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=None if env is None else dict(env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace"), err.decode(errors="replace")

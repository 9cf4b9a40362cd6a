"""Runs `chattree` as a child process, with nothing of this environment but what it needs."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass

from tests.processes import CHATTREE, INHERITED

TIMEOUT = 60.0


@dataclass(frozen=True)
class Finished:
    returncode: int
    stdout: str
    stderr: str


def environment(env: dict[str, str]) -> dict[str, str]:
    return {name: os.environ[name] for name in INHERITED if name in os.environ} | env


async def chattree(*args: str, env: dict[str, str], stdin: str | None = None) -> Finished:
    """Runs the command to its end without blocking the event loop (tests serve the fake
    model server and the app from it)."""
    process = await asyncio.create_subprocess_exec(
        CHATTREE,
        *args,
        env=environment(env),
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(TIMEOUT):
            out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"chattree {' '.join(args)} ran over {TIMEOUT} s") from None
    assert process.returncode is not None
    return Finished(process.returncode, out.decode(), err.decode())

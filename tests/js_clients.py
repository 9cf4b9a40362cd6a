"""Runs the Node.js clients of tests/js against a running server."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

from tests.tools import require

JS = Path(__file__).parent / "js"


def require_node_modules(package: str) -> None:
    """Skips (fails in CI) when Node.js or the package is missing: `npm ci` in tests/js."""
    available = shutil.which("node") is not None and (JS / "node_modules" / package).is_dir()
    require(available, f"Node.js with {package} (`npm ci` in {JS})")


async def run_script(script: str, *args: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The JSON lines a script of tests/js printed; fails if it exits non-zero."""
    return await run_node([str(JS / script), *args], timeout)


async def run_module(code: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The JSON lines an ES module printed, its imports resolved in tests/js."""
    return await run_node(["--input-type=module", "--eval", code], timeout)


async def run_node(args: list[str], timeout: float) -> list[dict[str, Any]]:
    process = await asyncio.create_subprocess_exec(
        "node",
        *args,
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]

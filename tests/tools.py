"""Programs the tests run besides the server (PgBouncer, nginx, Node.js, curl): skipping
a test without them, and running one for the length of a block."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from tests.conftest import IN_CI


def require(available: bool, what: str) -> None:
    """Skips the test unless `available`; fails it in CI, where .ci/run installs `what`."""
    if available:
        return
    reason = f"{what} is needed and missing"
    if IN_CI:
        pytest.fail(reason)
    pytest.skip(reason)


@asynccontextmanager
async def child(*argv: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """`argv` running until the block ends, then terminated and waited for."""
    process = await asyncio.create_subprocess_exec(*argv)
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
        await process.wait()

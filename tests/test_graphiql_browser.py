"""GraphiQL in headless Chromium, with every other host unreachable, against the real app
and the demo model: the page renders, signs in from a register mutation, runs a query,
shows a subscription's tokens arriving, signs out, signs in again from a login, and
notices the account's deletion. Screenshots go to tests/artifacts/.

The browser is driven by tests/js/graphiql.mjs (playwright-core, with Debian's Chromium:
a test tool's own browser download cannot work offline)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chattree.demo import DEMO_MODEL, DemoModelServer
from chattree.settings import Settings
from tests.conftest import IN_CI
from tests.harness import running_server

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests" / "js" / "graphiql.mjs"
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
HOLD_AT = 8  # tokens sent before the model waits for the test
STEP_TIMEOUT = 120.0


class HeldDemo(DemoModelServer):
    """The demo model, holding each stream after a few tokens until the test lets go."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(sock)
        self.release = asyncio.Event()

    async def between_tokens(self, sent: int) -> None:
        if sent == HOLD_AT:
            await self.release.wait()
        await super().between_tokens(sent)


def browser_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if not (SCRIPT.parent / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm ci in tests/js)"
    return None


@pytest.fixture
async def demo() -> AsyncIterator[HeldDemo]:
    server = HeldDemo.on_free_port()
    async with server.running():
        try:
            yield server
        finally:
            server.release.set()


async def next_line(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), STEP_TIMEOUT)
    return line.decode().strip()


async def test_graphiql_signs_in_queries_and_streams_with_no_other_host_reachable(
    tmp_path: Path, demo: HeldDemo
) -> None:
    missing = browser_missing()
    if missing:
        if IN_CI:
            pytest.fail(missing)
        pytest.skip(missing)
    settings = Settings.from_env(
        {
            "DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}",
            "SIGNATURE": "a-test-secret-that-is-long-enough-for-hs256",
            "MODEL_BASE_URL": demo.base_url,
            "DEFAULT_MODEL": DEMO_MODEL,
        }
    )
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_server(settings) as api:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(SCRIPT),
            api.url,
            "browser_ada",
            str(ARTIFACTS),
            cwd=SCRIPT.parent,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        said: list[str] = []
        try:
            while (line := await next_line(process)) not in ("first-event", ""):
                said.append(line)
            said.append(line)
            assert process.stdin is not None
            process.stdin.write(b"release\n")
            await process.stdin.drain()
            demo.release.set()
            while line := await next_line(process):
                said.append(line)
            await asyncio.wait_for(process.wait(), STEP_TIMEOUT)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        assert process.stderr is not None
        errors = (await process.stderr.read()).decode()
    for line in said:
        if line.startswith("screenshot "):
            print(f"GraphiQL screenshot: {line.removeprefix('screenshot ')}")
    assert process.returncode == 0, f"{said}\n{errors}"
    assert said[:4] == ["rendered", "signed-in", "query", "first-event"], said
    assert said[-4:] == ["signed-out", "logged-in", "deleted", "ok"], said

"""`chattree serve` without a model server warns once and serves anyway; `chattree demo`
streams replies from its own demo model, started and stopped with the server."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from tests.fake_model import FakeModelServer
from tests.processes import client, free_port, serving, wait_until

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
WARNING = "WARNING chattree: model server: "


def env_for(tmp_path: Path, **more: str) -> dict[str, str]:
    return {"DB_URL": f"sqlite+aiosqlite:///{tmp_path / 'served.db'}", "SIGNATURE": SECRET} | more


async def test_serve_without_a_model_server_warns_once_and_keeps_serving(tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}/v1"
    async with serving(env_for(tmp_path, MODEL_BASE_URL=closed), tmp_path / "serve.log") as server:

        async def warned() -> bool:
            return WARNING in server.output()

        await wait_until(warned, timeout=30, what="the model server warning")
        (line,) = [line for line in server.output().splitlines() if WARNING in line]
        assert f"cannot reach the model server at {closed}: connection refused" in line
        assert "set MODEL_BASE_URL" in line and "chattree demo" in line
        async with client(server) as api:
            token = await api.register("ada")
            data = await api.ok("{ me { username } }", token=token)
        assert data["me"]["username"] == "ada"
        assert server.returncode is None
    assert "Traceback" not in server.output()


async def test_serve_warns_when_the_model_server_lacks_the_default_model(
    tmp_path: Path, fake_model: FakeModelServer
) -> None:
    env = env_for(tmp_path, MODEL_BASE_URL=fake_model.base_url, DEFAULT_MODEL="missing")
    async with serving(env, tmp_path / "serve.log") as server:

        async def warned() -> bool:
            return WARNING in server.output()

        await wait_until(warned, timeout=30, what="the model warning")
        (line,) = [line for line in server.output().splitlines() if WARNING in line]
        assert "DEFAULT_MODEL='missing' is not among them: test-model, other-model" in line


CREATE = """mutation {
  createConversation(content: "Hello, demo", wait: true) {
    conversation { model }
    assistantMessage { content reasoning status depth }
  }
}"""


async def test_demo_streams_replies_from_its_own_model_and_stops_it_on_exit(
    tmp_path: Path,
) -> None:
    # A model server setting is ignored: the demo uses its own.
    env = env_for(tmp_path, MODEL_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    async with serving(env, tmp_path / "demo.log", command="demo") as server:
        async with client(server) as api:
            token = await api.register("ada")
            models = await api.ok("{ models { id } }", token=token)
            data = await api.ok(CREATE, token=token)
        found = re.search(r"demo model at (http://127\.0\.0\.1:\d+/v1)", server.output())
        assert found, server.output()
        await server.stop()
    assert await server.wait() == 0
    assert models["models"] == [{"id": "chattree-demo"}]
    payload = data["createConversation"]
    assert payload["conversation"]["model"] == "chattree-demo"
    reply = payload["assistantMessage"]
    assert reply["status"] == "COMPLETE" and reply["depth"] == 2
    assert "demo model" in reply["content"] and "MODEL_BASE_URL" in reply["content"]
    assert "sits at depth 2" in reply["reasoning"]
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorError):
            await http.get(f"{found.group(1)}/models")

"""The snippets of docs/clients.md, run as written against the real server: curl, the
graphql-sse client and Python's gql. (The Apollo, urql and graphql-ws snippets need npm
packages the suite does not install.)"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.js_clients import require_node_modules, run_module
from tests.tools import require
from tests.ws import message, start_reply

GUIDE = Path(__file__).parents[1] / "docs" / "clients.md"
EXAMPLE_API = "http://127.0.0.1:8000"


def snippet(heading: str, language: str) -> str:
    """The first `language` block of the guide's section `## heading`."""
    text = GUIDE.read_text()
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else len(text)]
    found = re.search(rf"```{language}\n(.*?)```", section, re.DOTALL)
    assert found, f"no {language} block under '## {heading}'"
    return found.group(1)


def sse_deltas(stream: str) -> list[dict[str, Any]]:
    """The messageStream events of a text/event-stream body."""
    return [
        json.loads(line.removeprefix("data:"))["data"]["messageStream"]
        for line in stream.splitlines()
        if line.startswith("data:") and line.removeprefix("data:").strip()
    ]


async def test_the_curl_snippet_signs_up_asks_and_streams_the_reply(
    api: Api, fake_model: FakeModelServer
) -> None:
    available = all(shutil.which(name) for name in ("curl", "jq"))
    require(available, "curl and jq (Debian: apt-get install curl jq)")
    fake_model.replies["Why is the sky blue?"] = Reply(
        content="Rayleigh scattering of sunlight.", delay=0.01
    )
    script = snippet("curl", "sh").replace(f"API={EXAMPLE_API}", f"API={api.url}")
    process = await asyncio.create_subprocess_exec(
        "bash", "-euo", "pipefail", "-c", script, stdout=asyncio.subprocess.PIPE
    )
    async with asyncio.timeout(30):
        out, _ = await process.communicate()
    assert process.returncode == 0
    output = out.decode()
    assert '"username":"ada"' in output
    events = sse_deltas(output)
    assert events[-1]["done"] is True and events[-1]["status"] == "COMPLETE"
    assert "".join(event["delta"] for event in events) == "Rayleigh scattering of sunlight."
    assert "event: complete" in output


async def test_the_graphql_sse_snippet_follows_a_reply(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    require_node_modules("graphql-sse")
    fake_model.replies["Tell me"] = Reply(content="word " * 40, delay=0.005)
    _, reply_id = await start_reply(api, alice, "Tell me")
    call = f"\nconsole.log(JSON.stringify(await follow({json.dumps(api.url + '/graphql/stream')}, "
    call += f"{json.dumps(alice)}, {json.dumps(reply_id)})));\n"
    [text] = await run_module(snippet("graphql-sse (Server-Sent Events)", "js") + call)
    assert text == (await message(api, alice, reply_id))["content"] == "word " * 40


async def test_the_gql_snippet_signs_in_asks_and_prints_the_reply(
    api: Api, fake_model: FakeModelServer, capsys: pytest.CaptureFixture[str]
) -> None:
    await api.register("ada", "a long passphrase")
    fake_model.replies["Why is the sky blue?"] = Reply(content="Because of scattering.")
    namespace: dict[str, Any] = {}
    exec(snippet("Python: gql", "python"), namespace)
    text = await namespace["ask"](api.url, "ada", "a long passphrase", "Why is the sky blue?")
    assert text == "Because of scattering."
    assert capsys.readouterr().out == "Because of scattering."

"""`chattree import --user NAME FILE` and `chattree export --user NAME`: the same import
and export as the API, from the command line, on the server's database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

from tests.harness import Api
from tests.portability import chatgpt_export as gpt
from tests.portability.client import tree
from tests.processes import CHATTREE, INHERITED


async def chattree(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    full = {name: os.environ[name] for name in INHERITED if name in os.environ} | env
    return await asyncio.to_thread(
        subprocess.run, [CHATTREE, *args], env=full, capture_output=True, timeout=120, check=False
    )


async def test_the_import_command_stores_a_zip_for_a_user(
    api: Api, alice: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "chatgpt-export.zip"
    export.write_bytes(gpt.split_zip())
    done = await chattree(server_env, "import", "--user", "alice", str(export))
    assert done.returncode == 0, done.stderr
    assert b"imported 2 conversations, 15 messages" in done.stdout
    assert b"skipped entry 1 (conv-broken)" in done.stderr
    # Not a terminal: no progress bar in the output.
    assert b"\r" not in done.stderr

    listed = await api.ok("{ conversations { edges { node { id title } } } }", token=alice)
    titles = {
        edge["node"]["title"]: edge["node"]["id"] for edge in listed["conversations"]["edges"]
    }
    assert set(titles) == {"Trip planning", "Code help"}
    shape = await tree(api, alice, titles["Trip planning"])
    assert shape["current"] == [0, 0, 1, 0, 0, 0]


async def test_the_export_command_writes_a_json_array(
    api: Api, alice: str, server_env: dict[str, str], tmp_path: Path
) -> None:
    export = tmp_path / "conversations.json"
    export.write_bytes(gpt.conversations_json())
    assert (await chattree(server_env, "import", "--user", "alice", str(export))).returncode == 0
    done = await chattree(server_env, "export", "--user", "alice", "--format", "chatgpt")
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert [c["title"] for c in body] == ["Trip planning", "Code help"]
    assert all("mapping" in c for c in body)


async def test_the_commands_name_what_is_wrong(
    api: Api, server_env: dict[str, str], tmp_path: Path
) -> None:
    missing = await chattree(server_env, "export", "--user", "nobody")
    assert missing.returncode == 1
    assert b"no user named 'nobody'" in missing.stderr
    await api.register("carol")
    absent = await chattree(server_env, "import", "--user", "carol", str(tmp_path / "none.zip"))
    assert absent.returncode == 1
    assert b"none.zip" in absent.stderr
    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(b"hello")
    refused = await chattree(server_env, "import", "--user", "carol", str(garbage))
    assert refused.returncode == 1
    assert b"neither a zip nor JSON" in refused.stderr

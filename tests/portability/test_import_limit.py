"""MAX_IMPORT_BYTES: a larger upload is refused before it is read, with a clear error."""

from __future__ import annotations

import pytest

from tests.harness import Api
from tests.portability import chatgpt_export as gpt
from tests.portability.client import post_upload


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "MAX_IMPORT_BYTES": "2000"}


async def test_an_upload_over_max_import_bytes_is_refused(api: Api, alice: str) -> None:
    status, body = await post_upload(api, alice, gpt.conversations_json())
    assert status == 413
    assert "MAX_IMPORT_BYTES" in body
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert listed["conversations"]["edges"] == []


async def test_an_upload_under_the_limit_is_read(api: Api, alice: str) -> None:
    status, body = await post_upload(api, alice, b"[]", "c.json")
    assert status == 200
    assert body["data"]["importConversations"]["conversations"] == []

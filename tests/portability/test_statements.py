"""Imports and forks are set-based: their statements do not grow with the messages."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.test_branches import FORK
from tests.harness import Api
from tests.portability.client import upload


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # No periodic sweep during a test: statement counts must be the request's alone.
    return {**server_env, "HEARTBEAT_INTERVAL": "600", "STALE_AFTER": "1200"}


def chain(length: int) -> dict[str, Any]:
    """A ChatTree export of one branch of `length` messages below the root."""
    stamp = "2026-01-01T00:00:00+00:00"
    messages: list[dict[str, Any]] = [
        {
            "id": "0",
            "parent_id": None,
            "role": "SYSTEM",
            "content": "Be kind.",
            "reasoning": None,
            "status": "COMPLETE",
            "error": None,
            "model": None,
            "created_at": stamp,
        }
    ]
    for i in range(1, length + 1):
        messages.append(
            {
                "id": str(i),
                "parent_id": str(i - 1),
                "role": "USER" if i % 2 else "ASSISTANT",
                "content": f"message {i}",
                "reasoning": None,
                "status": "COMPLETE",
                "error": None,
                "model": None if i % 2 else "m",
                "created_at": stamp,
            }
        )
    return {
        "chattree_export_version": 1,
        "id": "1",
        "title": f"Chain of {length}",
        "model": "m",
        "created_at": stamp,
        "updated_at": stamp,
        "current_message_id": str(length),
        "messages": messages,
    }


async def test_importing_costs_the_same_statements_for_4_or_400_messages(
    api: Api, alice: str
) -> None:
    counts = []
    for length in (4, 400):
        async with api.counting_statements() as statements:
            result = await upload(api, alice, json.dumps(chain(length)).encode(), "c.json")
        assert result["messageCount"] == length + 1
        counts.append(len(statements))
    assert counts[0] == counts[1]


async def test_forking_costs_the_same_statements_at_depth_4_or_400(api: Api, alice: str) -> None:
    counts = []
    for length in (4, 400):
        imported = await upload(api, alice, json.dumps(chain(length)).encode(), "c.json")
        leaf = imported["conversations"][0]["currentMessageId"]
        async with api.counting_statements() as statements:
            fork = await api.ok(FORK, {"id": leaf, "title": None}, token=alice)
        assert len(fork["forkConversation"]["messages"]) == length + 1
        counts.append(len(statements))
    assert counts[0] == counts[1]

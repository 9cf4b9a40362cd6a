"""Export in both formats, and the round trips: export, import and export again gives the
same tree, ids aside."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update

from chattree.db.models import Message as MessageRow
from chattree.db.models import Status
from tests.api.test_branches import two_turns
from tests.harness import Api
from tests.portability import chatgpt_export as gpt
from tests.portability.client import export, tree, upload


def without_ids(exported: dict[str, Any]) -> dict[str, Any]:
    """A ChatTree export with its ids replaced by positions."""
    position = {m["id"]: i for i, m in enumerate(exported["messages"])}
    return {
        **exported,
        "id": None,
        "current_message_id": position.get(exported["current_message_id"]),
        "messages": [
            {**m, "id": position[m["id"]], "parent_id": position.get(m["parent_id"])}
            for m in exported["messages"]
        ],
    }


async def built_through_the_api(api: Api, token: str) -> str:
    """Branches, a regeneration, reasoning, a failed reply and a moved current message."""
    ids = await two_turns(api, token)
    async with api.services.db.transaction() as session:
        await session.execute(
            update(MessageRow)
            .where(MessageRow.id == int(ids["a2"]))
            .values(status=Status.FAILED, error="model exploded", reasoning="hmm")
        )
    await api.ok(
        "mutation($id: ID!) { selectBranch(messageId: $id) { id } }", {"id": ids["a2"]}, token=token
    )
    return ids["conversation"]


async def test_the_chattree_format_holds_every_field(api: Api, alice: str) -> None:
    conversation_id = await built_through_the_api(api, alice)
    exported = await export(api, alice, conversation_id, "CHATTREE")
    assert exported["chattree_export_version"] == 1
    assert exported["title"] == "Source"
    assert len(exported["messages"]) == 6
    failed = [m for m in exported["messages"] if m["status"] == "FAILED"]
    assert failed == [
        {
            "id": exported["current_message_id"],
            "parent_id": exported["messages"][3]["id"],
            "role": "ASSISTANT",
            "content": "Echo: second",
            "reasoning": "hmm",
            "status": "FAILED",
            "error": "model exploded",
            "model": "test-model",
            "created_at": failed[0]["created_at"],
        }
    ]


async def test_a_chattree_round_trip_is_lossless(api: Api, alice: str) -> None:
    conversation_id = await built_through_the_api(api, alice)
    first = await export(api, alice, conversation_id, "CHATTREE")
    result = await upload(api, alice, json.dumps(first).encode(), "one.json")
    assert result["skipped"] == [] and result["droppedCount"] == 0
    again = await export(api, alice, result["conversations"][0]["id"], "CHATTREE")
    assert without_ids(again) == without_ids(first)
    assert await tree(api, alice, result["conversations"][0]["id"]) == await tree(
        api, alice, conversation_id
    )


async def test_the_chatgpt_format_is_what_chatgpt_writes(api: Api, alice: str) -> None:
    conversation_id = await built_through_the_api(api, alice)
    exported = await export(api, alice, conversation_id, "CHATGPT")
    mapping = exported["mapping"]
    (top,) = [node for node in mapping.values() if node["parent"] is None]
    assert top["message"] is None
    (root,) = top["children"]
    assert mapping[root]["message"]["author"]["role"] == "system"
    assert mapping[root]["message"]["metadata"]["is_visually_hidden_from_conversation"]
    current = mapping[exported["current_node"]]["message"]
    assert current["content"] == {"content_type": "text", "parts": ["Echo: second"]}
    assert current["metadata"]["model_slug"] == "test-model"
    # Its reasoning sits in a "thoughts" node right above it, as ChatGPT writes it.
    thoughts = mapping[mapping[exported["current_node"]]["parent"]]["message"]
    assert thoughts["content"]["content_type"] == "thoughts"
    assert isinstance(exported["create_time"], float)
    for key, node in mapping.items():
        assert node["id"] == key
        for child in node["children"]:
            assert mapping[child]["parent"] == key


async def test_a_chatgpt_round_trip_keeps_the_tree(api: Api, alice: str) -> None:
    conversation_id = await built_through_the_api(api, alice)
    exported = await export(api, alice, conversation_id, "CHATGPT")
    result = await upload(api, alice, json.dumps([exported]).encode(), "c.json")
    copy = result["conversations"][0]["id"]
    original, imported = await tree(api, alice, conversation_id), await tree(api, alice, copy)
    # ChatGPT's format has no statuses or errors: what it carries must all come back.
    assert strip_status(imported) == strip_status(original)


async def test_chatgpt_to_chattree_to_chatgpt_keeps_messages_branches_times_and_models(
    api: Api, alice: str
) -> None:
    result = await upload(api, alice, gpt.conversations_json(), "c.json")
    trip = result["conversations"][0]["id"]
    exported = await export(api, alice, trip, "CHATGPT")
    assert exported["title"] == "Trip planning"
    assert exported["create_time"] == gpt.T0
    assert exported["current_node"] in exported["mapping"]
    current = exported["mapping"][exported["current_node"]]["message"]
    assert current["content"]["parts"] == ["A pastel de nata."]
    again = await upload(api, alice, json.dumps([exported]).encode(), "c.json")
    assert await tree(api, alice, again["conversations"][0]["id"]) == await tree(api, alice, trip)


def strip_status(shape: dict[str, Any]) -> dict[str, Any]:
    def walk(node: Any) -> Any:
        fields, children = node
        fields = {k: v for k, v in fields.items() if k not in ("status", "error")}
        return (fields, [walk(child) for child in children])

    return {**shape, "root": walk(shape["root"])}


async def test_exporting_someone_elses_conversation_is_not_found(
    api: Api, alice: str, bob: str
) -> None:
    conversation_id = (await two_turns(api, alice))["conversation"]
    for bad in (conversation_id, "0", "x", "99999999"):
        error = await api.fails(
            "query($id: ID!) { exportConversation(id: $id) }", {"id": bad}, token=bob
        )
        assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.fails(
        "query($id: ID!) { exportConversation(id: $id, format: PDF) }",
        {"id": conversation_id},
        token=alice,
    )
    assert error["message"]


@pytest.mark.parametrize("format", ["chattree", "chatgpt"])
async def test_the_export_download_streams_all_conversations(
    api: Api, alice: str, bob: str, format: str
) -> None:
    await two_turns(api, alice)
    await upload(api, alice, gpt.conversations_json(), "c.json")
    await two_turns(api, bob)
    async with api.http.get(
        f"{api.url}/export", params={"format": format}, headers={"Authorization": f"Bearer {alice}"}
    ) as response:
        assert response.status == 200
        assert "attachment" in response.headers["Content-Disposition"]
        body = json.loads(await response.read())
    assert [c["title"] for c in body] == ["Source", "Trip planning", "Code help"]
    # The download imports again, whole.
    result = await upload(api, bob, json.dumps(body).encode(), "all.json")
    assert len(result["conversations"]) == 3 and result["skipped"] == []


async def test_the_export_download_needs_a_token_and_a_known_format(api: Api, alice: str) -> None:
    async with api.http.get(f"{api.url}/export") as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "UNAUTHENTICATED"
    async with api.http.get(
        f"{api.url}/export", headers={"Authorization": "Bearer not-a-token"}
    ) as response:
        assert response.status == 401
    async with api.http.get(
        f"{api.url}/export", params={"format": "pdf"}, headers={"Authorization": f"Bearer {alice}"}
    ) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "BAD_USER_INPUT"

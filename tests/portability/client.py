"""Uploads as the GraphQL multipart request spec describes them, and tree snapshots."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import aiohttp

from tests.harness import Api, GraphQLFailure

IMPORT = """
mutation($file: Upload!) {
  importConversations(file: $file) {
    conversations { id title model createdAt updatedAt currentMessageId }
    messageCount droppedCount
    skipped { index source reason }
  }
}
"""

EXPORT = "query($id: ID!, $f: ExportFormat!) { exportConversation(id: $id, format: $f) }"

TREE = """
query($id: ID!) {
  conversation(id: $id) {
    title model createdAt currentMessageId
    messages { id parentId role content reasoning status error model createdAt }
  }
}
"""


async def post_upload(
    api: Api, token: str | None, data: bytes, filename: str = "export.zip"
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    form.add_field("operations", json.dumps({"query": IMPORT, "variables": {"file": None}}))
    form.add_field("map", json.dumps({"0": ["variables.file"]}))
    form.add_field("0", data, filename=filename, content_type="application/octet-stream")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with api.http.post(f"{api.url}/graphql", data=form, headers=headers) as response:
        if response.content_type != "application/json":
            return response.status, await response.text()
        return response.status, await response.json()


async def upload(api: Api, token: str, data: bytes, filename: str = "export.zip") -> Any:
    """The ImportResult of an upload that must succeed."""
    status, body = await post_upload(api, token, data, filename)
    assert status == 200, body
    if body.get("errors"):
        raise GraphQLFailure(body["errors"])
    return body["data"]["importConversations"]


async def export(api: Api, token: str, conversation_id: str, format: str) -> Any:
    data = await api.ok(EXPORT, {"id": conversation_id, "f": format}, token=token)
    return data["exportConversation"]


async def tree(api: Api, token: str, conversation_id: str) -> Any:
    """The conversation as nested (fields, [children...]) with ids left out, and the
    path of the current message given by positions among siblings."""
    data = await api.ok(TREE, {"id": conversation_id}, token=token)
    conversation = data["conversation"]
    messages = conversation["messages"]
    children: dict[str | None, list[dict[str, Any]]] = {}
    for message in messages:
        children.setdefault(message["parentId"], []).append(message)

    def shape(message: dict[str, Any]) -> Any:
        fields = {k: v for k, v in message.items() if k not in ("id", "parentId")}
        return (fields, [shape(child) for child in children.get(message["id"], [])])

    by_id = {m["id"]: m for m in messages}
    current: list[int] = []
    node = by_id[conversation["currentMessageId"]]
    while node["parentId"] is not None:
        current.insert(0, [m["id"] for m in children[node["parentId"]]].index(node["id"]))
        node = by_id[node["parentId"]]
    (root,) = children[None]
    return {
        "title": conversation["title"],
        "model": conversation["model"],
        "createdAt": conversation["createdAt"],
        "root": shape(root),
        "current": current,
    }


def at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()

"""updateConversation and the listing it orders: pinned first, then newest updatedAt;
archived conversations only when asked for; cursors that keep their place."""

from __future__ import annotations

import pytest

from tests.harness import Api

CREATE = """
mutation($c: String!) {
  createConversation(content: $c, title: $c, wait: true) { conversation { id } }
}
"""
UPDATE = """
mutation($id: ID!, $t: String, $a: Boolean, $p: Boolean) {
  updateConversation(id: $id, title: $t, archived: $a, pinned: $p) { id title archived pinned }
}
"""
LIST = """
query($first: Int, $after: String, $archived: Boolean) {
  conversations(first: $first, after: $after, archived: $archived) {
    edges { cursor node { title pinned archived } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def create(api: Api, token: str, title: str) -> str:
    data = await api.ok(CREATE, {"c": title}, token=token)
    conversation_id: str = data["createConversation"]["conversation"]["id"]
    return conversation_id


async def titles(api: Api, token: str, **variables: object) -> list[str]:
    data = await api.ok(LIST, {"first": 100, **variables}, token=token)
    return [edge["node"]["title"] for edge in data["conversations"]["edges"]]


async def every_page(api: Api, token: str, first: int, **variables: object) -> list[str]:
    seen: list[str] = []
    after = None
    while True:
        data = await api.ok(LIST, {"first": first, "after": after, **variables}, token=token)
        page = data["conversations"]
        seen += [edge["node"]["title"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return seen
        after = page["pageInfo"]["endCursor"]


async def test_pinned_come_first_then_newest_and_archived_apart(api: Api, alice: str) -> None:
    ids = {title: await create(api, alice, title) for title in ("a", "b", "c", "d", "e")}
    assert await titles(api, alice) == ["e", "d", "c", "b", "a"]

    await api.ok(UPDATE, {"id": ids["b"], "p": True}, token=alice)
    await api.ok(UPDATE, {"id": ids["a"], "p": True}, token=alice)
    await api.ok(UPDATE, {"id": ids["d"], "a": True}, token=alice)
    assert await titles(api, alice) == ["b", "a", "e", "c"]
    assert await titles(api, alice, archived=True) == ["d"]

    # Pinning and archiving leave updatedAt alone: it is the time of the newest message.
    await api.ok(UPDATE, {"id": ids["b"], "p": False}, token=alice)
    assert await titles(api, alice) == ["a", "e", "c", "b"]
    await api.ok(UPDATE, {"id": ids["d"], "a": False}, token=alice)
    assert await titles(api, alice) == ["a", "e", "d", "c", "b"]
    assert await titles(api, alice, archived=True) == []


async def test_update_changes_only_the_fields_given(api: Api, alice: str) -> None:
    conversation = await create(api, alice, "Original")
    data = await api.ok(UPDATE, {"id": conversation, "p": True}, token=alice)
    assert data["updateConversation"] == {
        "id": conversation,
        "title": "Original",
        "archived": False,
        "pinned": True,
    }
    data = await api.ok(UPDATE, {"id": conversation, "t": "  Renamed  ", "a": True}, token=alice)
    assert data["updateConversation"] == {
        "id": conversation,
        "title": "Renamed",
        "archived": True,
        "pinned": True,
    }


@pytest.mark.parametrize("first", [1, 2, 3])
async def test_pages_under_the_new_order_neither_repeat_nor_skip(
    api: Api, alice: str, first: int
) -> None:
    ids = [await create(api, alice, f"c{i}") for i in range(7)]
    for index in (1, 4):
        await api.ok(UPDATE, {"id": ids[index], "p": True}, token=alice)
    await api.ok(UPDATE, {"id": ids[6], "a": True}, token=alice)
    assert await every_page(api, alice, first) == await titles(api, alice)
    assert await titles(api, alice) == ["c4", "c1", "c5", "c3", "c2", "c0"]
    assert await every_page(api, alice, first, archived=True) == ["c6"]


async def test_a_cursor_keeps_its_place_when_the_list_changes(api: Api, alice: str) -> None:
    ids = [await create(api, alice, f"c{i}") for i in range(4)]
    await api.ok(UPDATE, {"id": ids[0], "p": True}, token=alice)
    first = await api.ok(LIST, {"first": 2}, token=alice)
    page = first["conversations"]
    assert [edge["node"]["title"] for edge in page["edges"]] == ["c0", "c3"]
    # Pinning one already seen does not shift the next page.
    await api.ok(UPDATE, {"id": ids[3], "p": True}, token=alice)
    rest = await api.ok(LIST, {"first": 10, "after": page["pageInfo"]["endCursor"]}, token=alice)
    assert [edge["node"]["title"] for edge in rest["conversations"]["edges"]] == ["c2", "c1"]


async def test_updates_are_checked(api: Api, alice: str, bob: str) -> None:
    mine = await create(api, alice, "Mine")
    for variables, code in (
        ({"id": mine}, "BAD_USER_INPUT"),
        ({"id": mine, "t": "   "}, "BAD_USER_INPUT"),
        ({"id": mine, "t": "x" * 201}, "BAD_USER_INPUT"),
        ({"id": "999999", "p": True}, "NOT_FOUND"),
        ({"id": "nope", "p": True}, "NOT_FOUND"),
    ):
        error = await api.fails(UPDATE, variables, token=alice)
        assert error["extensions"]["code"] == code, variables
    error = await api.fails(UPDATE, {"id": mine, "p": True}, token=bob)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await titles(api, alice) == ["Mine"]
    data = await api.ok(LIST, {"first": 1}, token=alice)
    assert data["conversations"]["edges"][0]["node"] == {
        "title": "Mine",
        "pinned": False,
        "archived": False,
    }


async def test_an_older_cursor_without_pinning_still_pages(api: Api, alice: str) -> None:
    """Cursors issued before pinning existed hold (updatedAt, id) and still work."""
    import base64

    for i in range(3):
        await create(api, alice, f"c{i}")
    data = await api.ok(LIST, {"first": 1}, token=alice)
    new = data["conversations"]["pageInfo"]["endCursor"]
    raw = base64.urlsafe_b64decode(new).decode()
    assert raw.startswith("u|")
    old = base64.urlsafe_b64encode(raw[2:].encode()).decode()
    rest = await api.ok(LIST, {"first": 10, "after": old}, token=alice)
    assert [edge["node"]["title"] for edge in rest["conversations"]["edges"]] == ["c1", "c0"]


async def test_the_listing_reads_its_index(api: Api, alice: str) -> None:
    await create(api, alice, "one")
    async with api.services.db.reader() as session:
        from sqlalchemy import text

        if session.get_bind().dialect.name == "sqlite":
            plan = await session.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM conversations WHERE user_id = 1 AND "
                    "archived = 0 ORDER BY pinned DESC, updated_at DESC, id DESC LIMIT 21"
                )
            )
            details = " ".join(str(row[-1]) for row in plan)
            assert "ix_conversations_listing" in details
            assert "TEMP B-TREE" not in details

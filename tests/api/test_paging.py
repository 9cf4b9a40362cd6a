"""Paging long branches: `last` and `before` on branch, currentBranch and Message.path,
and branchLength from the stored depth."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.harness import Api

CREATE = """
mutation($c: String!) {
  createConversation(content: $c, title: "Long", wait: true) {
    conversation { id root { id } }
    assistantMessage { id }
  }
}
"""
PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c, wait: true) { assistantMessage { id } }
}
"""
BRANCH = """
query($id: ID!, $last: Int, $before: ID, $through: ID) {
  conversation(id: $id) {
    branch(last: $last, before: $before, through: $through) { id }
  }
}
"""
CURRENT = """
query($id: ID!, $last: Int, $before: ID) {
  conversation(id: $id) { currentBranch(last: $last, before: $before) { id } }
}
"""
PATH = """
query($id: ID!, $last: Int, $before: ID) {
  message(id: $id) { path(last: $last, before: $before) { id } }
}
"""
TURNS = 10


async def chain(api: Api, token: str, turns: int = TURNS) -> tuple[str, list[str]]:
    """A conversation of `turns` prompts in one branch: its id and the branch's ids."""
    created = (await api.ok(CREATE, {"c": "turn 0"}, token=token))["createConversation"]
    conversation = created["conversation"]["id"]
    parent = created["assistantMessage"]["id"]
    for turn in range(1, turns):
        data = await api.ok(PROMPT, {"parent": parent, "c": f"turn {turn}"}, token=token)
        parent = data["prompt"]["assistantMessage"]["id"]
    return conversation, await branch(api, token, conversation)


async def branch(api: Api, token: str, conversation: str, **arguments: Any) -> list[str]:
    data = await api.ok(BRANCH, {"id": conversation, **arguments}, token=token)
    return [message["id"] for message in data["conversation"]["branch"]]


async def test_last_keeps_the_newest_messages_root_first(api: Api, alice: str) -> None:
    conversation, ids = await chain(api, alice)
    assert len(ids) == 1 + 2 * TURNS
    assert await branch(api, alice, conversation, last=5) == ids[-5:]
    assert await branch(api, alice, conversation, last=1) == ids[-1:]
    assert await branch(api, alice, conversation, last=1000) == ids


async def test_before_pages_upwards_until_the_root(api: Api, alice: str) -> None:
    conversation, ids = await chain(api, alice)
    pages: list[list[str]] = []
    page = await branch(api, alice, conversation, last=6)
    while page:
        pages.append(page)
        page = await branch(api, alice, conversation, last=6, before=page[0])
    assert [len(page) for page in pages] == [6, 6, 6, 3]
    assert [message for page in reversed(pages) for message in page] == ids


async def test_before_without_last_is_everything_above_it(api: Api, alice: str) -> None:
    conversation, ids = await chain(api, alice, turns=3)
    assert await branch(api, alice, conversation, before=ids[3]) == ids[:3]
    assert await branch(api, alice, conversation, before=ids[0]) == []


async def test_branch_through_pages_the_branch_it_picks(api: Api, alice: str) -> None:
    conversation, ids = await chain(api, alice, turns=4)
    # A newer branch from the second user message: the newest branch no longer holds ids.
    await api.ok(PROMPT, {"parent": ids[2], "c": "an edit"}, token=alice)
    assert await branch(api, alice, conversation, through=ids[4], last=3) == ids[-3:]
    assert (
        await branch(api, alice, conversation, through=ids[4], last=3, before=ids[-3])
        == (ids[-6:-3])
    )
    newest = await branch(api, alice, conversation, last=3)
    assert newest[0] == ids[2] and not set(newest[1:]) & set(ids)


async def test_current_branch_and_path_page_the_same_way(api: Api, alice: str) -> None:
    conversation, ids = await chain(api, alice)
    data = await api.ok(CURRENT, {"id": conversation, "last": 4, "before": ids[-4]}, token=alice)
    assert [m["id"] for m in data["conversation"]["currentBranch"]] == ids[-8:-4]
    data = await api.ok(PATH, {"id": ids[9], "last": 3}, token=alice)
    assert [m["id"] for m in data["message"]["path"]] == ids[7:10]
    data = await api.ok(PATH, {"id": ids[9], "last": 3, "before": ids[7]}, token=alice)
    assert [m["id"] for m in data["message"]["path"]] == ids[4:7]


@pytest.mark.parametrize("last", [0, -1, 1001])
async def test_last_out_of_range_is_bad_input(api: Api, alice: str, last: int) -> None:
    conversation, _ = await chain(api, alice, turns=1)
    for document, variables in (
        (BRANCH, {"id": conversation, "last": last}),
        (CURRENT, {"id": conversation, "last": last}),
    ):
        error = await api.fails(document, variables, token=alice)
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "last"}
        assert "1 to 1000" in error["message"]


async def test_before_must_be_a_message_of_the_callers_conversation(
    api: Api, alice: str, bob: str
) -> None:
    conversation, ids = await chain(api, alice, turns=2)
    _, other_ids = await chain(api, alice, turns=2)
    _, bobs = await chain(api, bob, turns=2)
    for before in (other_ids[2], bobs[2], "not-an-id", "0", "99999999"):
        error = await api.fails(BRANCH, {"id": conversation, "before": before}, token=alice)
        assert error["extensions"]["code"] == "NOT_FOUND", before
    error = await api.fails(PATH, {"id": ids[3], "before": other_ids[1]}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_branch_length_is_the_newest_branch_without_reading_it(api: Api, alice: str) -> None:
    conversation, ids = await chain(api, alice, turns=4)
    query = "query($id: ID!) { conversation(id: $id) { branchLength } }"
    length = (await api.ok(query, {"id": conversation}, token=alice))["conversation"]
    assert length == {"branchLength": len(ids)}
    # A shorter, newer branch from the first reply: the newest branch is now 5 long.
    await api.ok(PROMPT, {"parent": ids[2], "c": "an edit"}, token=alice)
    length = (await api.ok(query, {"id": conversation}, token=alice))["conversation"]
    assert length == {"branchLength": 5}
    async with api.counting_statements() as statements:
        await api.ok(query, {"id": conversation}, token=alice)
    assert not any("RECURSIVE" in statement.upper() for statement in statements)


async def test_postgres_plans_each_statement_for_the_table_as_it_is(api: Api, db_url: str) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("a PostgreSQL setting")
    async with api.services.db.reader() as session:
        mode = await session.scalar(text("SHOW plan_cache_mode"))
    assert mode == "force_custom_plan"

"""search: stems, phrases, exclusions and OR over every branch of the caller's
conversations, ranked, with <mark>ed snippets and cursor paging; hostile strings never
reach the database's parser; other users' and deleted messages are never found."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.portability import chatgpt_export as gpt
from tests.portability.client import upload

SEARCH = """
query($q: String!, $first: Int, $after: String, $c: ID) {
  search(query: $q, first: $first, after: $after, conversationId: $c) {
    edges {
      cursor
      node { snippet score message { id content conversationId conversation { title } } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""
CREATE = """
mutation($c: String!, $t: String) {
  createConversation(content: $c, title: $t, wait: true) {
    conversation { id }
    userMessage { id }
    assistantMessage { id }
  }
}
"""
PROMPT = """
mutation($p: ID!, $c: String!) {
  prompt(parentId: $p, content: $c, wait: true) { userMessage { id } assistantMessage { id } }
}
"""
SELECT = "mutation($id: ID!) { selectBranch(messageId: $id) { currentMessageId } }"
DELETE_MESSAGE = "mutation($id: ID!) { deleteMessage(id: $id) { id } }"
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"
FORK = "mutation($id: ID!) { forkConversation(messageId: $id) { id } }"
ROOT = "query($id: ID!) { conversation(id: $id) { root { id } } }"


@pytest.fixture(autouse=True)
def plain_replies(fake_model: FakeModelServer) -> None:
    # Replies that repeat nothing searched for, so that only the user's messages match.
    fake_model.default_reply = Reply(content="noted")


async def create(api: Api, token: str, content: str, title: str = "Notes") -> dict[str, str]:
    data = (await api.ok(CREATE, {"c": content, "t": title}, token=token))["createConversation"]
    return {
        "conversation": data["conversation"]["id"],
        "user": data["userMessage"]["id"],
        "reply": data["assistantMessage"]["id"],
    }


async def search(api: Api, token: str, query: str, **variables: Any) -> dict[str, Any]:
    data = await api.ok(SEARCH, {"q": query, **variables}, token=token)
    result: dict[str, Any] = data["search"]
    return result


async def found(api: Api, token: str, query: str, **variables: Any) -> list[str]:
    """The contents of the messages found, best first."""
    result = await search(api, token, query, **variables)
    return [edge["node"]["message"]["content"] for edge in result["edges"]]


async def users_messages(api: Api, token: str, *texts: str) -> None:
    for text in texts:
        await create(api, token, text)


async def test_words_match_by_their_stem_whatever_their_case_and_accents(
    api: Api, alice: str
) -> None:
    await users_messages(
        api, alice, "I was RUNNING late for the café", "Nothing to see here", "She runs daily"
    )
    assert sorted(await found(api, alice, "run")) == [
        "I was RUNNING late for the café",
        "She runs daily",
    ]
    assert await found(api, alice, "CAFE") == ["I was RUNNING late for the café"]
    assert await found(api, alice, "Café") == ["I was RUNNING late for the café"]


async def test_phrases_exclusions_and_or(api: Api, alice: str) -> None:
    await users_messages(
        api,
        alice,
        "the red apple fell",
        "an apple that is red",
        "green pears only",
        "a red car",
    )
    assert await found(api, alice, '"red apple"') == ["the red apple fell"]
    assert sorted(await found(api, alice, "red -apple")) == ["a red car"]
    assert sorted(await found(api, alice, 'apple -"red apple"')) == ["an apple that is red"]
    assert sorted(await found(api, alice, "pears OR car")) == ["a red car", "green pears only"]
    # OR joins its neighbours only: red AND (apple OR car).
    assert sorted(await found(api, alice, "red apple OR car")) == [
        "a red car",
        "an apple that is red",
        "the red apple fell",
    ]


async def test_better_matches_come_first_with_marked_snippets(api: Api, alice: str) -> None:
    await users_messages(
        api,
        alice,
        "tree " * 5 + "grows",
        "a single tree among many other words that are not what was asked for at all",
    )
    result = await search(api, alice, "tree")
    nodes = [edge["node"] for edge in result["edges"]]
    assert len(nodes) == 2
    assert nodes[0]["score"] > nodes[1]["score"]
    assert nodes[0]["message"]["content"].startswith("tree tree")
    assert nodes[1]["snippet"] == (
        "a single <mark>tree</mark> among many other words that are not what was asked for at all"
    )


async def test_a_snippet_of_a_long_message_is_an_excerpt_around_the_match(
    api: Api, alice: str
) -> None:
    long = " ".join(f"filler{i}" for i in range(200)) + " the Zebra crossed " + "tail " * 100
    await users_messages(api, alice, long)
    (edge,) = (await search(api, alice, "zebra"))["edges"]
    snippet = edge["node"]["snippet"]
    assert "<mark>Zebra</mark>" in snippet
    assert len(snippet.replace("<mark>", "").replace("</mark>", "")) <= 220
    assert snippet.replace("<mark>", "").replace("</mark>", "") in long


async def test_pages_follow_each_other_without_repeats(api: Api, alice: str) -> None:
    await users_messages(api, alice, *(f"page word number {i}" for i in range(7)))
    seen: list[str] = []
    after = None
    while True:
        result = await search(api, alice, "page", first=3, after=after)
        seen += [edge["node"]["message"]["id"] for edge in result["edges"]]
        if not result["pageInfo"]["hasNextPage"]:
            break
        after = result["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 7


async def test_a_cursor_of_another_query_is_refused(api: Api, alice: str) -> None:
    await users_messages(api, alice, "alpha one", "alpha two")
    cursor = (await search(api, alice, "alpha", first=1))["pageInfo"]["endCursor"]
    for query, after in (("beta", cursor), ("alpha", "not-a-cursor"), ("alpha", "x" * 300)):
        error = await api.fails(SEARCH, {"q": query, "after": after}, token=alice)
        assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_titles_are_searched_and_hit_on_the_root(api: Api, alice: str) -> None:
    ids = await create(api, alice, "hello", title="Holiday in Portugal")
    (edge,) = (await search(api, alice, "portugal"))["edges"]
    root = (await api.ok(ROOT, {"id": ids["conversation"]}, token=alice))["conversation"]["root"]
    assert edge["node"]["message"]["id"] == root["id"]
    assert edge["node"]["snippet"] == "Holiday in <mark>Portugal</mark>"


async def test_a_hit_on_an_old_branch_can_be_selected(api: Api, alice: str) -> None:
    first = await create(api, alice, "Tell me about volcanoes")
    root = (await api.ok(ROOT, {"id": first["conversation"]}, token=alice))["conversation"]
    # A second branch beside the first: the volcano question is now off the current one.
    await api.ok(PROMPT, {"p": root["root"]["id"], "c": "Tell me about glaciers"}, token=alice)
    (edge,) = [
        edge
        for edge in (await search(api, alice, "volcano"))["edges"]
        if edge["node"]["message"]["content"] == "Tell me about volcanoes"
    ]
    hit = edge["node"]["message"]
    assert hit["conversationId"] == first["conversation"]
    selected = await api.ok(SELECT, {"id": hit["id"]}, token=alice)
    assert selected["selectBranch"]["currentMessageId"] == first["reply"]


async def test_search_can_be_limited_to_one_conversation(api: Api, alice: str, bob: str) -> None:
    one = await create(api, alice, "shared word lemon")
    await create(api, alice, "shared word melon")
    assert await found(api, alice, "lemon OR melon", c=one["conversation"]) == ["shared word lemon"]
    bobs = await create(api, bob, "shared word")
    error = await api.fails(SEARCH, {"q": "shared", "c": bobs["conversation"]}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_other_users_messages_are_never_found(api: Api, alice: str, bob: str) -> None:
    await create(api, bob, "bob's secret plan", title="secret plans")
    await create(api, alice, "nothing")
    assert await found(api, alice, "secret") == []
    assert len(await found(api, bob, "secret")) == 2  # the message, and the title's root


async def test_deleted_messages_and_conversations_are_gone(api: Api, alice: str) -> None:
    kept = await create(api, alice, "kept octopus")
    gone = await create(api, alice, "gone octopus", title="Octopus facts")
    await api.ok(DELETE_MESSAGE, {"id": kept["user"]}, token=alice)
    left = await found(api, alice, "octopus")
    # The other conversation's message, and its title's hit on its root.
    assert len(left) == 2
    assert "gone octopus" in left and "kept octopus" not in left
    await api.ok(DELETE, {"id": gone["conversation"]}, token=alice)
    assert await found(api, alice, "octopus") == []


async def test_imported_and_forked_messages_are_searchable_at_once(api: Api, alice: str) -> None:
    await upload(api, alice, gpt.conversations_json(), "conversations.json")
    assert "Plan a trip to Lisbon" in await found(api, alice, "lisbon")
    ids = await create(api, alice, "the narwhal question")
    fork = (await api.ok(FORK, {"id": ids["reply"]}, token=alice))["forkConversation"]
    assert await found(api, alice, "narwhal", c=fork["id"]) == ["the narwhal question"]


HOSTILE = [
    '"unbalanced',
    'un"balanced',
    "NEAR(a b)",
    "a AND OR NOT b",
    "col:umn",
    "* ^ ( ) { } [ ]",
    "'; DROP TABLE messages; --",
    "\\",
    "a\u0301\u0301",
    "x" * 1000,
    "OR",
    "-a OR",
    '"" "" ""',
    "tree*",
    "🌳 tree",
]


@pytest.mark.parametrize("query", HOSTILE)
async def test_hostile_queries_are_searched_as_text_or_refused(
    api: Api, alice: str, query: str
) -> None:
    await create(api, alice, "a tree with a balanced column")
    body = await api.post(SEARCH, {"q": query}, token=alice)
    if body.get("errors"):
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", body
    else:
        assert isinstance(body["data"]["search"]["edges"], list)


@pytest.mark.parametrize(
    "query", ["", "   ", "-only -excluded", "!!!", "x" * 1001, "a\x00b", "OR OR"]
)
async def test_queries_without_anything_to_search_are_bad_input(
    api: Api, alice: str, query: str
) -> None:
    error = await api.fails(SEARCH, {"q": query}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_first_is_bounded(api: Api, alice: str, first: int) -> None:
    error = await api.fails(SEARCH, {"q": "tree", "first": first}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_search_needs_a_login(api: Api) -> None:
    error = await api.fails(SEARCH, {"q": "tree"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

"""Conversations: starting one, its title and model, listing, renaming, deleting."""

from __future__ import annotations

import asyncio
import base64
import re
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from chattree.db.models import Conversation as ConversationRow
from chattree.db.models import Message as MessageRow
from chattree.services.conversations import DEFAULT_SYSTEM_PROMPT
from chattree.settings import Settings
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api, running_server


@dataclass
class GatedTitles(FakeModelServer):
    """The fake model server, except that title requests wait for `titles_released`, so a
    test can look at a conversation before its model-written title arrives."""

    titles_released: asyncio.Event = field(default_factory=asyncio.Event)

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()  # aiohttp keeps the body for the second read
        if not body.get("stream"):
            await self.titles_released.wait()
        return await super()._chat(request)


@pytest.fixture
async def fake_model() -> AsyncIterator[GatedTitles]:
    fake = GatedTitles()
    await fake.start()
    fake.titles_released.set()
    try:
        yield fake
    finally:
        await fake.stop()


CREATE = """
mutation($c: String!, $model: String, $title: String, $system: String, $wait: Boolean) {
  createConversation(content: $c, model: $model, title: $title, systemPrompt: $system,
                     wait: $wait) {
    conversation { id title model createdAt updatedAt messageCount currentMessageId }
    userMessage { id content role status depth parentId createdAt }
    assistantMessage { id content role status error model depth parentId createdAt }
  }
}
"""

CONVERSATION = """
query($id: ID!) {
  conversation(id: $id) {
    id title model createdAt updatedAt messageCount currentMessageId
    root { id role content depth parentId createdAt }
    messages { id role content status error }
  }
}
"""

LIST = """
query($first: Int, $after: String) {
  conversations(first: $first, after: $after) {
    edges { cursor node { id title updatedAt } }
    pageInfo { hasNextPage endCursor }
  }
}
"""

RENAME = """
mutation($id: ID!, $title: String!) { renameConversation(id: $id, title: $title) { id title } }
"""

DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"

PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c, wait: true) {
    conversation { id updatedAt }
    assistantMessage { id status }
  }
}
"""

ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?\+00:00$")


async def create(api: Api, token: str, content: str = "Hi", **options: Any) -> dict[str, Any]:
    variables = {"c": content, "wait": True, **options}
    payload: dict[str, Any] = (await api.ok(CREATE, variables, token=token))["createConversation"]
    return payload


async def conversation(api: Api, token: str, conversation_id: str) -> dict[str, Any] | None:
    data = await api.ok(CONVERSATION, {"id": conversation_id}, token=token)
    found: dict[str, Any] | None = data["conversation"]
    return found


async def count(api: Api, table: type[ConversationRow] | type[MessageRow]) -> int:
    async with api.services.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def title_task_finished(conversation_id: str) -> None:
    """Until the background task writing the conversation's title has ended."""
    name = f"title-{conversation_id}"
    for _ in range(1000):
        if not any(task.get_name() == name for task in asyncio.all_tasks()):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{name} is still running")


async def user_id(api: Api, token: str) -> int:
    return int((await api.ok("{ me { id } }", token=token))["me"]["id"])


# The root: system prompt and personality


async def test_the_root_holds_the_default_system_prompt_when_the_user_has_no_personality(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice)
    found = await conversation(api, alice, payload["conversation"]["id"])
    assert found is not None
    root = found["root"]
    assert root["role"] == "SYSTEM"
    assert root["content"] == DEFAULT_SYSTEM_PROMPT
    assert root["depth"] == 0
    assert root["parentId"] is None
    assert payload["userMessage"]["parentId"] == root["id"]
    assert fake_model.chat_requests[-1]["messages"][0] == {
        "role": "system",
        "content": DEFAULT_SYSTEM_PROMPT,
    }


async def test_the_users_personality_is_appended_to_the_default_system_prompt(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    await api.ok('mutation { updateMe(personality: "Answer like a pirate.") { id } }', token=alice)
    payload = await create(api, alice)
    found = await conversation(api, alice, payload["conversation"]["id"])
    assert found is not None
    content = found["root"]["content"]
    assert content.startswith(DEFAULT_SYSTEM_PROMPT)
    assert content.endswith("Answer like a pirate.")
    assert fake_model.chat_requests[-1]["messages"][0] == {"role": "system", "content": content}


async def test_a_system_prompt_replaces_the_default_and_the_personality_is_still_appended(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    await api.ok('mutation { updateMe(personality: "Answer like a pirate.") { id } }', token=alice)
    payload = await create(api, alice, system="You translate into French.")
    found = await conversation(api, alice, payload["conversation"]["id"])
    assert found is not None
    content = found["root"]["content"]
    assert DEFAULT_SYSTEM_PROMPT not in content
    assert content.startswith("You translate into French.")
    assert content.endswith("Answer like a pirate.")
    assert fake_model.chat_requests[-1]["messages"][0] == {"role": "system", "content": content}


async def test_a_new_conversation_holds_root_user_message_and_reply(api: Api, alice: str) -> None:
    payload = await create(api, alice, "Hello model")
    user, reply = payload["userMessage"], payload["assistantMessage"]
    assert (user["role"], user["content"], user["status"], user["depth"]) == (
        "USER",
        "Hello model",
        "COMPLETE",
        1,
    )
    assert (reply["role"], reply["status"], reply["depth"], reply["error"]) == (
        "ASSISTANT",
        "COMPLETE",
        2,
        None,
    )
    assert reply["parentId"] == user["id"]
    assert reply["content"] == "Echo: Hello model"
    assert payload["conversation"]["messageCount"] == 3
    assert payload["conversation"]["currentMessageId"] == reply["id"]


# Titles


async def test_a_given_title_is_kept_and_no_title_is_asked_of_the_model(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, "Hi", title="  My   own title ")
    conversation_id = payload["conversation"]["id"]
    await title_task_finished(conversation_id)
    found = await conversation(api, alice, conversation_id)
    assert found is not None
    assert found["title"] == "My own title"
    assert [r for r in fake_model.requests if not r.get("stream")] == []


async def test_the_title_starts_as_the_first_message_and_is_then_written_by_the_model(
    api: Api, alice: str, fake_model: GatedTitles
) -> None:
    fake_model.titles_released.clear()
    fake_model.title = "Printing in Europe"
    content = "Tell me   about the history of printing in Europe, from Gutenberg to the presses"
    payload = await create(api, alice, content)
    provisional = payload["conversation"]["title"]
    assert provisional.startswith("Tell me about the history of printing")
    assert len(provisional) <= 60
    conversation_id = payload["conversation"]["id"]

    fake_model.titles_released.set()
    title = provisional
    for _ in range(500):
        found = await conversation(api, alice, conversation_id)
        assert found is not None
        title = found["title"]
        if title != provisional:
            break
        await asyncio.sleep(0.02)
    assert title == "Printing in Europe"
    title_request = next(r for r in fake_model.requests if not r.get("stream"))
    assert title_request["model"] == "test-model"
    assert any(content in m["content"] for m in title_request["messages"])


async def test_a_short_first_message_is_the_whole_provisional_title(
    api: Api, alice: str, fake_model: GatedTitles
) -> None:
    fake_model.titles_released.clear()
    payload = await create(api, alice, "Why is\nthe sky blue?")
    assert payload["conversation"]["title"] == "Why is the sky blue?"
    fake_model.titles_released.set()


async def test_the_provisional_title_stays_when_the_title_request_fails(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.title_status = 500
    payload = await create(api, alice, "What is a monad?")
    conversation_id = payload["conversation"]["id"]
    await title_task_finished(conversation_id)
    assert [r for r in fake_model.requests if not r.get("stream")], "no title was asked for"
    found = await conversation(api, alice, conversation_id)
    assert found is not None
    assert found["title"] == "What is a monad?"


async def wait_for_title(api: Api, token: str, conversation_id: str) -> str:
    await title_task_finished(conversation_id)
    found = await conversation(api, token, conversation_id)
    assert found is not None
    title: str = found["title"]
    return title


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ('"Monads explained."', "Monads explained"),
        ("Title: **Monads explained**\nThis title fits because...", "Monads explained"),
        ("<think>They ask about monads.</think>Monads explained", "Monads explained"),
        ("m" * 300, "m" * 80),
    ],
)
async def test_the_model_title_is_cleaned_up(
    api: Api, alice: str, fake_model: FakeModelServer, written: str, kept: str
) -> None:
    fake_model.title = written
    payload = await create(api, alice, "What is a monad?")
    assert await wait_for_title(api, alice, payload["conversation"]["id"]) == kept


@pytest.mark.parametrize("written", ["", "   ", '""', "\n\n"])
async def test_an_empty_model_title_keeps_the_provisional_one(
    api: Api, alice: str, fake_model: FakeModelServer, written: str
) -> None:
    fake_model.title = written
    payload = await create(api, alice, "What is a monad?")
    assert await wait_for_title(api, alice, payload["conversation"]["id"]) == "What is a monad?"


async def test_a_rename_before_the_model_title_arrives_is_not_overwritten(
    api: Api, alice: str, fake_model: GatedTitles
) -> None:
    fake_model.titles_released.clear()
    payload = await create(api, alice, "What is a monad?")
    conversation_id = payload["conversation"]["id"]
    await api.ok(RENAME, {"id": conversation_id, "title": "Mine"}, token=alice)
    fake_model.titles_released.set()
    await title_task_finished(conversation_id)
    assert [r for r in fake_model.requests if not r.get("stream")], "no title was asked for"
    found = await conversation(api, alice, conversation_id)
    assert found is not None
    assert found["title"] == "Mine"


@pytest.mark.parametrize("title", ["", "   ", "x" * 201])
async def test_a_bad_title_for_a_new_conversation_is_rejected_and_nothing_is_stored(
    api: Api, alice: str, title: str
) -> None:
    error = await api.fails(CREATE, {"c": "Hi", "title": title}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "title"
    assert "title" in error["message"]
    assert await count(api, ConversationRow) == 0
    assert await count(api, MessageRow) == 0


# Models


async def test_the_model_defaults_to_the_first_one_the_server_lists(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice)
    assert payload["conversation"]["model"] == "test-model"
    assert payload["assistantMessage"]["model"] == "test-model"
    assert fake_model.chat_requests[-1]["model"] == "test-model"


async def test_a_listed_model_can_be_chosen(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    payload = await create(api, alice, model="other-model")
    assert payload["conversation"]["model"] == "other-model"
    assert payload["assistantMessage"]["model"] == "other-model"
    assert fake_model.chat_requests[-1]["model"] == "other-model"


async def test_a_model_the_server_does_not_list_is_rejected_and_nothing_is_stored(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    error = await api.fails(CREATE, {"c": "Hi", "model": "no-such-model"}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "model"
    assert "no-such-model" in error["message"]
    assert await count(api, ConversationRow) == 0
    assert await count(api, MessageRow) == 0
    assert fake_model.chat_requests == []


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_an_unreachable_model_server_accepts_the_name_and_the_reply_fails(
    server_env: dict[str, str],
) -> None:
    env = {**server_env, "MODEL_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1"}
    async with running_server(Settings.from_env(env)) as api:
        token = await api.register("carol")
        payload = await create(api, token, "Are you there?", model="some-model")
        assert payload["conversation"]["model"] == "some-model"
        reply = payload["assistantMessage"]
        assert reply["status"] == "FAILED"
        assert reply["error"]
        found = await conversation(api, token, payload["conversation"]["id"])
        assert found is not None
        assert [(m["role"], m["content"]) for m in found["messages"][1:]] == [
            ("USER", "Are you there?"),
            ("ASSISTANT", ""),
        ]


# Waiting


async def test_wait_returns_the_final_reply(api: Api, alice: str) -> None:
    payload = await create(api, alice, "Hi", wait=True)
    assert payload["assistantMessage"]["status"] == "COMPLETE"
    assert payload["assistantMessage"]["content"] == "Echo: Hi"


async def test_without_wait_the_reply_is_returned_streaming(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    gate = Gate()
    fake_model.replies["Slowly"] = Reply(content="one two three four", gate=gate)
    payload = await create(api, alice, "Slowly", wait=False)
    reply = payload["assistantMessage"]
    assert reply["status"] == "STREAMING"
    gate.open()
    status = reply["status"]
    for _ in range(500):
        data = await api.ok(
            "query($id: ID!) { message(id: $id) { status content } }",
            {"id": reply["id"]},
            token=alice,
        )
        status = data["message"]["status"]
        if status != "STREAMING":
            break
        await asyncio.sleep(0.02)
    assert status == "COMPLETE"
    assert data["message"]["content"] == "one two three four"


# Listing


async def insert_conversations(
    api: Api, owner: int, stamps: list[datetime], title: str = "c"
) -> list[str]:
    """Conversation rows straight into the database (no messages), in the given order."""
    async with api.services.db.transaction() as session:
        rows = [
            ConversationRow(
                user_id=owner,
                title=f"{title}{i}",
                model="test-model",
                created_at=at,
                updated_at=at,
            )
            for i, at in enumerate(stamps)
        ]
        session.add_all(rows)
        await session.flush()
        return [str(row.id) for row in rows]


async def every_page(api: Api, token: str, first: int) -> list[list[str]]:
    pages: list[list[str]] = []
    after = None
    for _ in range(100):
        data = await api.ok(LIST, {"first": first, "after": after}, token=token)
        connection = data["conversations"]
        pages.append([edge["node"]["id"] for edge in connection["edges"]])
        if connection["edges"]:
            assert connection["pageInfo"]["endCursor"] == connection["edges"][-1]["cursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            return pages
        after = connection["pageInfo"]["endCursor"]
    raise AssertionError("the pages never end")


async def test_conversations_are_listed_newest_updated_first_across_pages(
    api: Api, alice: str
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = await insert_conversations(
        api, await user_id(api, alice), [start + timedelta(minutes=i) for i in range(5)]
    )
    pages = await every_page(api, alice, first=2)
    assert pages == [[ids[4], ids[3]], [ids[2], ids[1]], [ids[0]]]


async def test_conversations_updated_in_the_same_instant_are_each_listed_once(
    api: Api, alice: str
) -> None:
    same = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    ids = await insert_conversations(api, await user_id(api, alice), [same] * 5)
    pages = await every_page(api, alice, first=2)
    listed = [i for page in pages for i in page]
    assert sorted(listed) == sorted(ids)
    assert len(listed) == 5


async def test_the_last_page_says_there_is_no_next_page(api: Api, alice: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await insert_conversations(
        api, await user_id(api, alice), [start + timedelta(minutes=i) for i in range(2)]
    )
    data = await api.ok(LIST, {"first": 2}, token=alice)
    assert len(data["conversations"]["edges"]) == 2
    assert data["conversations"]["pageInfo"]["hasNextPage"] is False


async def test_an_empty_list_has_no_cursor(api: Api, alice: str) -> None:
    data = await api.ok(LIST, {}, token=alice)
    assert data["conversations"] == {
        "edges": [],
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


async def test_the_default_page_is_twenty_and_a_hundred_is_allowed(api: Api, alice: str) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    await insert_conversations(
        api, await user_id(api, alice), [start + timedelta(minutes=i) for i in range(25)]
    )
    data = await api.ok(LIST, {}, token=alice)
    assert len(data["conversations"]["edges"]) == 20
    assert data["conversations"]["pageInfo"]["hasNextPage"] is True
    data = await api.ok(LIST, {"first": 100}, token=alice)
    assert len(data["conversations"]["edges"]) == 25
    assert data["conversations"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize("first", [0, -1, 101])
async def test_a_page_size_outside_one_to_a_hundred_is_rejected(
    api: Api, alice: str, first: int
) -> None:
    error = await api.fails(LIST, {"first": first}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "first"


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "",
        base64.urlsafe_b64encode(b"yesterday|1").decode(),
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00|1").decode(),  # no offset
        base64.urlsafe_b64encode(b"2026-01-01T00:00:00+00:00|x").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
async def test_a_cursor_the_server_did_not_issue_is_rejected(
    api: Api, alice: str, cursor: str
) -> None:
    error = await api.fails(LIST, {"first": 5, "after": cursor}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "after"


async def test_adding_a_message_moves_a_conversation_to_the_top(api: Api, alice: str) -> None:
    older = await create(api, alice, "first")
    newer = await create(api, alice, "second")
    data = await api.ok(LIST, {}, token=alice)
    assert [e["node"]["id"] for e in data["conversations"]["edges"]] == [
        newer["conversation"]["id"],
        older["conversation"]["id"],
    ]
    before = datetime.fromisoformat(older["conversation"]["updatedAt"])

    prompted = await api.ok(
        PROMPT, {"parent": older["assistantMessage"]["id"], "c": "again"}, token=alice
    )
    moved = datetime.fromisoformat(prompted["prompt"]["conversation"]["updatedAt"])
    assert moved > before
    data = await api.ok(LIST, {}, token=alice)
    edges = data["conversations"]["edges"]
    assert [e["node"]["id"] for e in edges] == [
        older["conversation"]["id"],
        newer["conversation"]["id"],
    ]
    assert edges[0]["node"]["updatedAt"] == prompted["prompt"]["conversation"]["updatedAt"]


async def test_regenerating_moves_a_conversation_to_the_top(api: Api, alice: str) -> None:
    older = await create(api, alice, "first")
    newer = await create(api, alice, "second")
    await api.ok(
        "mutation($id: ID!) { regenerate(messageId: $id, wait: true) { id } }",
        {"id": older["assistantMessage"]["id"]},
        token=alice,
    )
    data = await api.ok(LIST, {}, token=alice)
    assert [e["node"]["id"] for e in data["conversations"]["edges"]] == [
        older["conversation"]["id"],
        newer["conversation"]["id"],
    ]


async def test_renaming_or_selecting_a_branch_does_not_move_a_conversation(
    api: Api, alice: str
) -> None:
    older = await create(api, alice, "first", title="Older")
    newer = await create(api, alice, "second", title="Newer")
    before = await api.ok(LIST, {}, token=alice)
    await api.ok(RENAME, {"id": older["conversation"]["id"], "title": "Renamed"}, token=alice)
    await api.ok(
        "mutation($id: ID!) { selectBranch(messageId: $id) { id } }",
        {"id": older["userMessage"]["id"]},
        token=alice,
    )
    after = await api.ok(LIST, {}, token=alice)
    assert [(e["node"]["id"], e["node"]["updatedAt"]) for e in after["conversations"]["edges"]] == [
        (e["node"]["id"], e["node"]["updatedAt"]) for e in before["conversations"]["edges"]
    ]
    assert after["conversations"]["edges"][0]["node"]["id"] == newer["conversation"]["id"]


async def test_only_the_callers_conversations_are_listed(api: Api, alice: str, bob: str) -> None:
    await create(api, alice, "mine")
    mine = await create(api, bob, "bob's")
    data = await api.ok(LIST, {}, token=bob)
    assert [e["node"]["id"] for e in data["conversations"]["edges"]] == [mine["conversation"]["id"]]


# Renaming


async def test_renaming_changes_the_title(api: Api, alice: str) -> None:
    payload = await create(api, alice, title="Old")
    conversation_id = payload["conversation"]["id"]
    data = await api.ok(RENAME, {"id": conversation_id, "title": " New\n name "}, token=alice)
    assert data["renameConversation"] == {"id": conversation_id, "title": "New name"}
    found = await conversation(api, alice, conversation_id)
    assert found is not None
    assert found["title"] == "New name"


async def test_a_title_of_two_hundred_characters_is_allowed(api: Api, alice: str) -> None:
    payload = await create(api, alice, title="Old")
    data = await api.ok(
        RENAME, {"id": payload["conversation"]["id"], "title": "y" * 200}, token=alice
    )
    assert data["renameConversation"]["title"] == "y" * 200


@pytest.mark.parametrize("title", ["", " \n\t ", "x" * 201])
async def test_renaming_to_an_empty_or_too_long_title_is_rejected(
    api: Api, alice: str, title: str
) -> None:
    payload = await create(api, alice, title="Old")
    conversation_id = payload["conversation"]["id"]
    error = await api.fails(RENAME, {"id": conversation_id, "title": title}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "title"
    found = await conversation(api, alice, conversation_id)
    assert found is not None
    assert found["title"] == "Old"


@pytest.mark.parametrize("missing", ["999999", "0", "abc", "-3"])
async def test_renaming_a_missing_conversation_is_not_found(
    api: Api, alice: str, missing: str
) -> None:
    error = await api.fails(RENAME, {"id": missing, "title": "New"}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"


# Deleting


async def test_deleting_a_conversation_removes_it_and_its_messages(api: Api, alice: str) -> None:
    kept = await create(api, alice, "keep me")
    gone = await create(api, alice, "delete me")
    gone_id = gone["conversation"]["id"]
    found = await conversation(api, alice, gone_id)
    assert found is not None
    gone_messages = [m["id"] for m in found["messages"]]

    assert (await api.ok(DELETE, {"id": gone_id}, token=alice)) == {"deleteConversation": True}

    assert await conversation(api, alice, gone_id) is None
    for message_id in gone_messages:
        data = await api.ok(
            "query($id: ID!) { message(id: $id) { id } }", {"id": message_id}, token=alice
        )
        assert data["message"] is None
    async with api.services.db.reader() as session:
        left = await session.scalar(
            select(func.count())
            .select_from(MessageRow)
            .where(MessageRow.conversation_id == int(gone_id))
        )
    assert left == 0
    assert await count(api, ConversationRow) == 1
    assert await count(api, MessageRow) == 3
    still = await conversation(api, alice, kept["conversation"]["id"])
    assert still is not None
    assert still["messageCount"] == 3
    listed = await api.ok(LIST, {}, token=alice)
    assert [e["node"]["id"] for e in listed["conversations"]["edges"]] == [
        kept["conversation"]["id"]
    ]


async def test_deleting_a_conversation_twice_is_not_found_the_second_time(
    api: Api, alice: str
) -> None:
    payload = await create(api, alice)
    conversation_id = payload["conversation"]["id"]
    await api.ok(DELETE, {"id": conversation_id}, token=alice)
    error = await api.fails(DELETE, {"id": conversation_id}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_deleting_a_conversation_whose_reply_is_streaming_removes_it(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Hold"] = Reply(content="a b c d e f g h", stall_after=2)
    payload = await create(api, alice, "Hold", wait=False)
    await fake_model.wait_for_stream()
    conversation_id = payload["conversation"]["id"]
    assert (await api.ok(DELETE, {"id": conversation_id}, token=alice))["deleteConversation"]
    assert await conversation(api, alice, conversation_id) is None
    assert await count(api, MessageRow) == 0
    # The server goes on serving: a new conversation still gets its reply.
    again = await create(api, alice, "still there?")
    assert again["assistantMessage"]["status"] == "COMPLETE"


# Times


async def test_times_are_iso_8601_in_utc(api: Api, alice: str) -> None:
    payload = await create(api, alice)
    found = await conversation(api, alice, payload["conversation"]["id"])
    assert found is not None
    me = await api.ok("{ me { createdAt } }", token=alice)
    stamps = [
        me["me"]["createdAt"],
        found["createdAt"],
        found["updatedAt"],
        found["root"]["createdAt"],
        payload["conversation"]["createdAt"],
        payload["conversation"]["updatedAt"],
        payload["userMessage"]["createdAt"],
        payload["assistantMessage"]["createdAt"],
    ]
    for stamp in stamps:
        assert ISO_UTC.match(stamp), stamp
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() == timedelta(0)
        assert abs(datetime.now(UTC) - parsed) < timedelta(minutes=5)
    assert found["updatedAt"] == payload["assistantMessage"]["createdAt"]

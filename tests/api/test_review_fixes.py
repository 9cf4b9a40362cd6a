"""Fixes from review: a fresh context for every websocket operation, reads that race a
delete, malformed conversation cursors, a conversation created without a model, and the
ownership check of messageStream living in the service layer."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import event

from chattree.errors import NotFound
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.ws import (
    PROTOCOLS,
    TRANSPORT_WS,
    Client,
    OperationFailed,
    connect,
    stream_events,
    subscribe_stream,
)

CREATE = """
mutation($c: String!, $title: String) {
  createConversation(content: $c, title: $title, wait: true) {
    conversation { id title model }
    userMessage { id }
    assistantMessage { id status model }
  }
}
"""

PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c, wait: true) {
    conversation { id model }
    assistantMessage { id status model content }
  }
}
"""

REGENERATE = """
mutation($id: ID!) { regenerate(messageId: $id, wait: true) { id status model } }
"""

RENAME = """
mutation($id: ID!, $title: String!) { renameConversation(id: $id, title: $title) { title } }
"""

CHANGE_PASSWORD = """
mutation { changePassword(currentPassword: "correct horse", newPassword: "battery staple") {
  token
} }
"""

DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"

TITLE = "query($id: ID!) { conversation(id: $id) { title } }"

MODEL = "query($id: ID!) { conversation(id: $id) { model } }"

LIST = """
query($after: String) {
  conversations(first: 5, after: $after) { edges { node { id } } }
}
"""


async def create(api: Api, token: str, content: str = "Hi", title: str = "Chat") -> dict[str, Any]:
    data = await api.ok(CREATE, {"c": content, "title": title}, token=token)
    payload: dict[str, Any] = data["createConversation"]
    return payload


async def user_id(api: Api, token: str) -> int:
    return int((await api.ok("{ me { id } }", token=token))["me"]["id"])


async def query_over(client: Client, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The one result of a query sent as a graphql-transport-ws operation."""
    results = await (await client.subscribe(query, variables)).collect()
    assert len(results) == 1, results
    return results[0]


# 1. Every websocket operation has its own context


async def test_a_query_repeated_over_a_websocket_sees_a_rename_made_over_http(
    api: Api, alice: str
) -> None:
    conversation_id = (await create(api, alice, title="Before"))["conversation"]["id"]
    async with connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as ws:
        first = await query_over(ws, TITLE, {"id": conversation_id})
        assert first == {"conversation": {"title": "Before"}}
        await api.ok(RENAME, {"id": conversation_id, "title": "After"}, token=alice)
        second = await query_over(ws, TITLE, {"id": conversation_id})
        assert second == {"conversation": {"title": "After"}}


async def test_a_deleted_conversation_is_gone_for_the_next_query_on_an_open_socket(
    api: Api, alice: str
) -> None:
    conversation_id = (await create(api, alice))["conversation"]["id"]
    async with connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as ws:
        assert (await query_over(ws, TITLE, {"id": conversation_id}))["conversation"]
        await api.ok(DELETE, {"id": conversation_id}, token=alice)
        assert await query_over(ws, TITLE, {"id": conversation_id}) == {"conversation": None}


async def test_a_token_revoked_by_change_password_fails_new_queries_on_an_open_socket(
    api: Api, alice: str
) -> None:
    async with connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as ws:
        assert await query_over(ws, "{ me { username } }", {}) == {"me": {"username": "alice"}}
        await api.ok(CHANGE_PASSWORD, token=alice)
        with pytest.raises(OperationFailed) as failed:
            await query_over(ws, "{ me { username } }", {})
        assert failed.value.code == "UNAUTHENTICATED"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_token_revoked_by_change_password_fails_new_subscriptions_on_an_open_socket(
    api: Api, alice: str, protocol: str
) -> None:
    reply_id = (await create(api, alice, "Hello"))["assistantMessage"]["id"]
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        events = await stream_events(await subscribe_stream(ws, reply_id))
        assert events[-1]["done"] is True
        await api.ok(CHANGE_PASSWORD, token=alice)
        with pytest.raises(OperationFailed) as failed:
            await stream_events(await subscribe_stream(ws, reply_id))
        assert failed.value.code == "UNAUTHENTICATED"


async def test_concurrent_operations_on_one_socket_each_answer_for_themselves(
    api: Api, alice: str
) -> None:
    ids = [(await create(api, alice, title=f"Chat {i}"))["conversation"]["id"] for i in range(3)]
    async with connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as ws:
        operations = [await ws.subscribe(TITLE, {"id": i}) for i in ids * 3]
        results = await asyncio.gather(*(operation.collect() for operation in operations))
    assert [result[0]["conversation"]["title"] for result in results] == [
        f"Chat {i}" for i in range(3)
    ] * 3


# 2. A conversation deleted between two levels of one request


@contextmanager
def deleting_conversation_after(
    api: Api, monkeypatch: pytest.MonkeyPatch, marker: str, *, owner: int, conversation_id: int
) -> Iterator[None]:
    """Deletes the conversation once a statement containing every part of `marker` has
    run, before the server opens its next read: as if another request deleted it between
    two levels of the selection."""
    db = api.services.db
    parts = marker.split("|")
    seen = False
    deletion: asyncio.Future[None] | None = None
    reader = db.reader

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        nonlocal seen
        if all(part in statement for part in parts):
            seen = True

    @asynccontextmanager
    async def reader_after_delete() -> AsyncIterator[Any]:
        nonlocal deletion
        if seen and deletion is None:
            deletion = asyncio.ensure_future(
                api.services.conversations.delete(user_id=owner, conversation_id=conversation_id)
            )
        if deletion is not None:
            await asyncio.shield(deletion)
        async with reader() as session:
            yield session

    monkeypatch.setattr(db, "reader", reader_after_delete)
    event.listen(db.engine.sync_engine, "after_cursor_execute", record)
    try:
        yield
        assert deletion is not None and deletion.done(), "the conversation was not deleted"
    finally:
        event.remove(db.engine.sync_engine, "after_cursor_execute", record)


CONVERSATION_LOADED = "FROM conversations|conversations.id IN"
MESSAGE_LOADED = "FROM messages|messages.id IN"

RACES = [
    pytest.param(
        "query($c: ID!) { conversation(id: $c) { id root { id } } }",
        CONVERSATION_LOADED,
        id="root",
    ),
    pytest.param(
        "query($c: ID!) { conversation(id: $c) { id branch { id } } }",
        CONVERSATION_LOADED,
        id="branch",
    ),
    pytest.param(
        "query($c: ID!) { conversation(id: $c) { id currentBranch { id } } }",
        CONVERSATION_LOADED,
        id="currentBranch",
    ),
    pytest.param(
        "query($c: ID!, $m: ID!) { conversation(id: $c) { id branch(through: $m) { id } } }",
        MESSAGE_LOADED,
        id="branch-through",
    ),
    pytest.param(
        "query($m: ID!) { message(id: $m) { id conversation { id } } }",
        MESSAGE_LOADED,
        id="message-conversation",
    ),
    pytest.param(
        "query($m: ID!) { message(id: $m) { id siblingIndex } }",
        MESSAGE_LOADED,
        id="siblingIndex",
    ),
    pytest.param(
        "query($m: ID!) { message(id: $m) { id path { id } } }",
        MESSAGE_LOADED,
        id="path",
    ),
]


@pytest.mark.parametrize(("query", "marker"), RACES)
async def test_a_conversation_deleted_while_a_read_runs_is_not_found_rather_than_internal(
    api: Api, alice: str, monkeypatch: pytest.MonkeyPatch, query: str, marker: str
) -> None:
    payload = await create(api, alice)
    conversation_id = payload["conversation"]["id"]
    variables = {"c": conversation_id, "m": payload["assistantMessage"]["id"]}
    used = {name: value for name, value in variables.items() if f"${name}:" in query}
    owner = await user_id(api, alice)
    with deleting_conversation_after(
        api, monkeypatch, marker, owner=owner, conversation_id=int(conversation_id)
    ):
        body = await api.post(query, used, token=alice)
    assert body.get("errors"), body
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]
    assert next(iter(body["data"].values())) is None


# 3. Cursors


STAMP = "2026-01-01T00:00:00+00:00"


def cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "after",
    [
        pytest.param(cursor(f"{STAMP}|99999999999999999999999"), id="id-past-int64"),
        pytest.param(cursor(f"{STAMP}|9223372036854775808"), id="id-2**63"),
        pytest.param(cursor(f"{STAMP}|-1"), id="negative-id"),
        pytest.param(cursor(f"{STAMP}|1_000"), id="id-with-underscore"),
        pytest.param(cursor(f"{STAMP}| 7"), id="id-with-space"),
        pytest.param(cursor("0001-01-01T00:00:00+01:00|1"), id="before-year-1-in-utc"),
        pytest.param(cursor("9999-12-31T23:59:59-01:00|1"), id="after-year-9999-in-utc"),
        pytest.param(cursor(f"{STAMP}|" + "0" * 300 + "1"), id="longer-than-200"),
    ],
)
async def test_a_malformed_cursor_is_bad_user_input_for_after(
    api: Api, alice: str, after: str
) -> None:
    error = await api.fails(LIST, {"after": after}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "after"


async def test_cursors_at_the_edges_of_time_are_accepted(api: Api, alice: str) -> None:
    await create(api, alice)
    for raw in (
        "0001-01-01T00:00:00+00:00|1",
        "9999-12-31T23:59:59.999999+00:00|9223372036854775807",
    ):
        data = await api.ok(LIST, {"after": cursor(raw)}, token=alice)
        expected = 0 if raw.startswith("0001") else 1
        assert len(data["conversations"]["edges"]) == expected


async def test_an_issued_cursor_still_pages(api: Api, alice: str) -> None:
    ids = [(await create(api, alice, title=f"Chat {i}"))["conversation"]["id"] for i in range(3)]
    first = await api.ok(
        "{ conversations(first: 2) { edges { cursor node { id } } } }", token=alice
    )
    edges = first["conversations"]["edges"]
    assert [edge["node"]["id"] for edge in edges] == [ids[2], ids[1]]
    rest = await api.ok(LIST, {"after": edges[-1]["cursor"]}, token=alice)
    assert [edge["node"]["id"] for edge in rest["conversations"]["edges"]] == [ids[0]]


# 4. A conversation created while the model server could not list its models


@dataclass
class GatedModels(FakeModelServer):
    """The fake model server, except that /models waits for `models_released` while it
    is clear, and `models_asked` is set once such a request arrived."""

    models_released: asyncio.Event = field(default_factory=asyncio.Event)
    models_asked: asyncio.Event = field(default_factory=asyncio.Event)

    async def _list_models(self, request: web.Request) -> web.Response:
        self.models_asked.set()
        await self.models_released.wait()
        return await super()._list_models(request)


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # Long enough that a /models request held open by a test does not time out first.
    return {**server_env, "MODEL_IDLE_TIMEOUT": "60"}


@pytest.fixture
async def fake_model() -> AsyncIterator[GatedModels]:
    fake = GatedModels()
    fake.models_released.set()
    await fake.start()
    try:
        yield fake
    finally:
        fake.models_released.set()
        await fake.stop()


async def modelless_conversation(api: Api, token: str, fake: FakeModelServer) -> dict[str, Any]:
    """A conversation started while /models failed and DEFAULT_MODEL is unset."""
    fake.models_status = 503
    payload = await create(api, token, "While down")
    assert payload["conversation"]["model"] == ""
    fake.models_status = 200
    return payload


async def test_prompting_a_conversation_created_without_a_model_stores_the_first_listed(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await modelless_conversation(api, alice, fake_model)
    data = await api.ok(
        PROMPT, {"parent": payload["assistantMessage"]["id"], "c": "Back up?"}, token=alice
    )
    prompted = data["prompt"]
    assert prompted["conversation"]["model"] == "test-model"
    assert prompted["assistantMessage"]["model"] == "test-model"
    assert prompted["assistantMessage"]["status"] == "COMPLETE"
    assert fake_model.chat_requests[-1]["model"] == "test-model"
    stored = await api.ok(MODEL, {"id": payload["conversation"]["id"]}, token=alice)
    assert stored == {"conversation": {"model": "test-model"}}


async def test_regenerating_in_a_conversation_created_without_a_model_stores_the_first_listed(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await modelless_conversation(api, alice, fake_model)
    data = await api.ok(REGENERATE, {"id": payload["assistantMessage"]["id"]}, token=alice)
    assert data["regenerate"]["model"] == "test-model"
    assert data["regenerate"]["status"] == "COMPLETE"
    stored = await api.ok(MODEL, {"id": payload["conversation"]["id"]}, token=alice)
    assert stored == {"conversation": {"model": "test-model"}}


async def test_a_model_once_stored_is_not_asked_of_the_model_server_again(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await create(api, alice)
    fake_model.models_released.clear()
    fake_model.models_asked.clear()
    data = await api.ok(
        PROMPT, {"parent": payload["assistantMessage"]["id"], "c": "Again"}, token=alice
    )
    assert data["prompt"]["conversation"]["model"] == "test-model"
    assert not fake_model.models_asked.is_set()


async def test_waiting_for_the_model_list_does_not_hold_up_other_writes(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await modelless_conversation(api, alice, fake_model)
    conversation_id = payload["conversation"]["id"]
    fake_model.models_released.clear()
    fake_model.models_asked.clear()
    prompting = asyncio.create_task(
        api.ok(PROMPT, {"parent": payload["assistantMessage"]["id"], "c": "Hold"}, token=alice)
    )
    try:
        await asyncio.wait_for(fake_model.models_asked.wait(), 10)
        # On SQLite a transaction open across the /models request would hold the write
        # lock, and this rename would fail once the busy timeout ran out.
        renamed = await api.ok(RENAME, {"id": conversation_id, "title": "Renamed"}, token=alice)
        assert renamed == {"renameConversation": {"title": "Renamed"}}
        assert not prompting.done()
    finally:
        fake_model.models_released.set()
    data = await prompting
    assert data["prompt"]["conversation"]["model"] == "test-model"


async def test_prompting_another_users_modelless_conversation_does_not_ask_for_models(
    api: Api, alice: str, bob: str, fake_model: GatedModels
) -> None:
    payload = await modelless_conversation(api, alice, fake_model)
    fake_model.models_released.clear()
    fake_model.models_asked.clear()
    error = await api.fails(
        PROMPT, {"parent": payload["assistantMessage"]["id"], "c": "Mine now"}, token=bob
    )
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert not fake_model.models_asked.is_set()


async def test_prompting_while_the_model_server_is_still_down_keeps_the_model_empty(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await modelless_conversation(api, alice, fake_model)
    fake_model.models_status = 503
    data = await api.ok(
        PROMPT, {"parent": payload["assistantMessage"]["id"], "c": "Still down?"}, token=alice
    )
    assert data["prompt"]["conversation"]["model"] == ""


# 5. The ownership check of a message is a service function


async def test_the_service_finds_the_callers_message_and_not_another_users(
    api: Api, alice: str, bob: str
) -> None:
    payload = await create(api, alice)
    message_id = int(payload["assistantMessage"]["id"])
    conversations = api.services.conversations
    row = await conversations.message(user_id=await user_id(api, alice), message_id=message_id)
    assert row.id == message_id
    with pytest.raises(NotFound):
        await conversations.message(user_id=await user_id(api, bob), message_id=message_id)
    with pytest.raises(NotFound):
        await conversations.message(user_id=await user_id(api, alice), message_id=10**12)


# A conversation deleted while a mutation waits for its reply


async def test_a_conversation_deleted_while_a_prompt_waits_is_not_found(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await create(api, alice)
    fake_model.replies["Never ends"] = Reply(content="one two three", stall_after=1)
    started = fake_model.streams_started
    waiting = asyncio.create_task(
        api.post(
            PROMPT, {"parent": payload["assistantMessage"]["id"], "c": "Never ends"}, token=alice
        )
    )
    await fake_model.wait_for_streams(started + 1)
    await api.ok(DELETE, {"id": payload["conversation"]["id"]}, token=alice)
    body = await waiting
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]


async def test_a_conversation_deleted_while_regenerate_waits_is_not_found(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    payload = await create(api, alice, "Never ends")
    fake_model.replies["Never ends"] = Reply(content="one two three", stall_after=1)
    started = fake_model.streams_started
    waiting = asyncio.create_task(
        api.post(REGENERATE, {"id": payload["assistantMessage"]["id"]}, token=alice)
    )
    await fake_model.wait_for_streams(started + 1)
    await api.ok(DELETE, {"id": payload["conversation"]["id"]}, token=alice)
    body = await waiting
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]


async def test_a_conversation_deleted_while_its_creation_waits_is_not_found(
    api: Api, alice: str, fake_model: GatedModels
) -> None:
    fake_model.replies["Never ends"] = Reply(content="one two three", stall_after=1)
    started = fake_model.streams_started
    waiting = asyncio.create_task(
        api.post(CREATE, {"c": "Never ends", "title": "Doomed"}, token=alice)
    )
    await fake_model.wait_for_streams(started + 1)
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    conversation_id = listed["conversations"]["edges"][0]["node"]["id"]
    await api.ok(DELETE, {"id": conversation_id}, token=alice)
    body = await waiting
    assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]

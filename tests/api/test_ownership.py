"""Another user's ids name nothing: every operation answers them exactly as it answers an
id that does not exist, and the owner's data stays as it was. Without a valid token,
nothing answers at all."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api

MISSING = "987654321"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # Alice's reply must stay STREAMING for the whole test, however slow the machine.
    return {**server_env, "MODEL_IDLE_TIMEOUT": "120", "MODEL_FIRST_TOKEN_TIMEOUT": "120"}


CREATE = """
mutation($c: String!, $wait: Boolean) {
  createConversation(content: $c, title: "Alice's", wait: $wait) {
    conversation { id root { id } }
    userMessage { id }
    assistantMessage { id }
  }
}
"""

SNAPSHOT = """
query($id: ID!) {
  conversation(id: $id) {
    id title model createdAt updatedAt messageCount currentMessageId
    branch { id }
    messages { id parentId role content status error model createdAt childCount }
  }
}
"""


@dataclass
class AliceData:
    conversation: str
    root: str
    user: str
    reply: str
    streaming_conversation: str
    streaming: str


@pytest.fixture
async def alices(api: Api, alice: str, fake_model: FakeModelServer) -> AsyncIterator[AliceData]:
    done = (await api.ok(CREATE, {"c": "secret", "wait": True}, token=alice))["createConversation"]
    fake_model.replies["hold"] = Reply(content="never sent", stall_after=0)
    running = (await api.ok(CREATE, {"c": "hold", "wait": False}, token=alice))[
        "createConversation"
    ]
    await fake_model.wait_for_stream()
    yield AliceData(
        conversation=done["conversation"]["id"],
        root=done["conversation"]["root"]["id"],
        user=done["userMessage"]["id"],
        reply=done["assistantMessage"]["id"],
        streaming_conversation=running["conversation"]["id"],
        streaming=running["assistantMessage"]["id"],
    )
    await api.ok(
        "mutation($id: ID!) { cancelGeneration(messageId: $id) { id } }",
        {"id": running["assistantMessage"]["id"]},
        token=alice,
    )


async def snapshot(api: Api, token: str, data: AliceData) -> list[Any]:
    listing = await api.ok(
        "{ conversations { edges { node { id title updatedAt } } } }", token=token
    )
    states = [listing]
    for conversation in (data.conversation, data.streaming_conversation):
        states.append(await api.ok(SNAPSHOT, {"id": conversation}, token=token))
    return states


def normalized(body: dict[str, Any], the_id: str) -> dict[str, Any]:
    """The answer with the id taken out of error messages, so that answers about two
    different ids can be compared."""
    errors = [
        {**error, "message": error["message"].replace(the_id, "<id>")}
        for error in body.get("errors") or []
    ]
    return {"data": body.get("data"), "errors": errors}


@dataclass(frozen=True)
class Operation:
    query: str
    alices_id: str  # attribute of AliceData
    expect: str  # "null" or an error code
    bobs_conversation: bool = False  # the query also takes one of bob's conversations


OPERATIONS = {
    "conversation": Operation(
        "query($id: ID!) { conversation(id: $id) { id title } }", "conversation", "null"
    ),
    "message": Operation("query($id: ID!) { message(id: $id) { id content } }", "reply", "null"),
    "children": Operation("query($id: ID!) { children(id: $id) { id } }", "root", "NOT_FOUND"),
    "prompt-under-a-reply": Operation(
        'mutation($id: ID!) { prompt(parentId: $id, content: "hi", wait: true) '
        "{ userMessage { id } } }",
        "reply",
        "NOT_FOUND",
    ),
    # For alice these would be BAD_USER_INPUT: bob must not learn even that.
    "prompt-under-a-user-message": Operation(
        'mutation($id: ID!) { prompt(parentId: $id, content: "hi") { userMessage { id } } }',
        "user",
        "NOT_FOUND",
    ),
    "prompt-under-a-streaming-reply": Operation(
        'mutation($id: ID!) { prompt(parentId: $id, content: "hi") { userMessage { id } } }',
        "streaming",
        "NOT_FOUND",
    ),
    "regenerate-a-reply": Operation(
        "mutation($id: ID!) { regenerate(messageId: $id, wait: true) { id } }",
        "reply",
        "NOT_FOUND",
    ),
    "regenerate-a-user-message": Operation(
        "mutation($id: ID!) { regenerate(messageId: $id) { id } }", "user", "NOT_FOUND"
    ),
    "regenerate-the-root": Operation(
        "mutation($id: ID!) { regenerate(messageId: $id) { id } }", "root", "NOT_FOUND"
    ),
    "cancel-a-streaming-reply": Operation(
        "mutation($id: ID!) { cancelGeneration(messageId: $id) { id status } }",
        "streaming",
        "NOT_FOUND",
    ),
    "cancel-a-final-reply": Operation(
        "mutation($id: ID!) { cancelGeneration(messageId: $id) { id status } }",
        "reply",
        "NOT_FOUND",
    ),
    "select-branch": Operation(
        "mutation($id: ID!) { selectBranch(messageId: $id) { id currentMessageId } }",
        "user",
        "NOT_FOUND",
    ),
    "rename-conversation": Operation(
        'mutation($id: ID!) { renameConversation(id: $id, title: "Bob was here") { id } }',
        "conversation",
        "NOT_FOUND",
    ),
    "delete-conversation": Operation(
        "mutation($id: ID!) { deleteConversation(id: $id) }", "conversation", "NOT_FOUND"
    ),
    "delete-a-streaming-conversation": Operation(
        "mutation($id: ID!) { deleteConversation(id: $id) }",
        "streaming_conversation",
        "NOT_FOUND",
    ),
    "branch-through": Operation(
        "query($id: ID!, $mine: ID!) { conversation(id: $mine) { branch(through: $id) { id } } }",
        "user",
        "NOT_FOUND",
        bobs_conversation=True,
    ),
}


@pytest.mark.parametrize("name", list(OPERATIONS))
async def test_another_users_id_gets_the_answer_of_a_missing_id(
    api: Api,
    alice: str,
    bob: str,
    alices: AliceData,
    fake_model: FakeModelServer,
    name: str,
) -> None:
    operation = OPERATIONS[name]
    variables: dict[str, str] = {}
    if operation.bobs_conversation:
        mine = await api.ok(CREATE, {"c": "bob's own", "wait": True}, token=bob)
        variables["mine"] = mine["createConversation"]["conversation"]["id"]
    before = await snapshot(api, alice, alices)
    requests = len(fake_model.requests)
    theirs = getattr(alices, operation.alices_id)

    with_theirs = await api.post(operation.query, {**variables, "id": theirs}, token=bob)
    with_missing = await api.post(operation.query, {**variables, "id": MISSING}, token=bob)

    assert normalized(with_theirs, theirs) == normalized(with_missing, MISSING)
    if operation.expect == "null":
        assert "errors" not in with_theirs
        assert list(with_theirs["data"].values()) == [None]
    else:
        assert with_theirs["errors"][0]["extensions"]["code"] == operation.expect
        assert with_theirs["errors"][0]["extensions"] == {"code": operation.expect}
    assert await snapshot(api, alice, alices) == before
    assert len(fake_model.requests) == requests


async def test_bob_cannot_reach_alices_messages_through_his_own_tree(
    api: Api, alice: str, bob: str, alices: AliceData
) -> None:
    mine = (await api.ok(CREATE, {"c": "bob's own", "wait": True}, token=bob))["createConversation"]
    data = await api.ok(
        """query($id: ID!) { conversation(id: $id) {
             messageCount messages { id } root { descendants { id } } } }""",
        {"id": mine["conversation"]["id"]},
        token=bob,
    )
    seen = {m["id"] for m in data["conversation"]["messages"]}
    seen |= {m["id"] for m in data["conversation"]["root"]["descendants"]}
    assert data["conversation"]["messageCount"] == 3
    assert not seen & {alices.root, alices.user, alices.reply, alices.streaming}


UNAUTHENTICATED = [
    ("query($id: ID!) { conversation(id: $id) { id } }", {"id": "1"}),
    ("query($id: ID!) { message(id: $id) { id } }", {"id": "1"}),
    ("query($id: ID!) { children(id: $id) { id } }", {"id": "1"}),
    ("{ conversations { edges { node { id } } } }", {}),
    ('mutation { createConversation(content: "hi") { conversation { id } } }', {}),
    (
        'mutation($id: ID!) { prompt(parentId: $id, content: "hi") { userMessage { id } } }',
        {"id": "1"},
    ),
    ("mutation($id: ID!) { regenerate(messageId: $id) { id } }", {"id": "1"}),
    ("mutation($id: ID!) { cancelGeneration(messageId: $id) { id } }", {"id": "1"}),
    ("mutation($id: ID!) { selectBranch(messageId: $id) { id } }", {"id": "1"}),
    ('mutation($id: ID!) { renameConversation(id: $id, title: "x") { id } }', {"id": "1"}),
    ("mutation($id: ID!) { deleteConversation(id: $id) }", {"id": "1"}),
    ("query($id: ID!) { conversation(id: $id) { id } }", {"id": "not-a-number"}),
]


def forged_token() -> str:
    """A well-formed token for alice's id, signed with a secret the server does not use."""
    now = int(time.time())
    claims = {"sub": "1", "ver": 0, "iat": now, "exp": now + 3600}
    return jwt.encode(claims, "not-the-server-secret-but-long-enough-for-hs256", "HS256")


@pytest.mark.parametrize(
    "token", [None, "not-a-token", forged_token()], ids=["none", "garbage", "forged"]
)
async def test_without_a_valid_token_every_operation_is_unauthenticated(
    api: Api, alice: str, alices: AliceData, fake_model: FakeModelServer, token: str | None
) -> None:
    before = await snapshot(api, alice, alices)
    requests = len(fake_model.requests)
    for query, variables in UNAUTHENTICATED:
        # The ids are alice's real ones: being unauthenticated must not reveal them either.
        variables = {k: alices.conversation if v == "1" else v for k, v in variables.items()}
        body = await api.post(query, variables, token=token)
        assert body.get("errors"), (query, body)
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", (query, body)
        assert not any((body.get("data") or {}).values()), (query, body)
    assert await snapshot(api, alice, alices) == before
    assert len(fake_model.requests) == requests

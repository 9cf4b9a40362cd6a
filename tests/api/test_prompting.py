"""Prompting, editing and regenerating: where new messages go, what the model is sent,
and which inputs are refused."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chattree.services.conversations import DEFAULT_SYSTEM_PROMPT
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api, of_requests

MAX_LENGTH = 64


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "MAX_MESSAGE_LENGTH": str(MAX_LENGTH)}


MESSAGE_FIELDS = "id role content status error parentId depth siblingIndex siblingCount"

CREATE = f"""
mutation($c: String!, $model: String, $system: String, $wait: Boolean) {{
  createConversation(content: $c, model: $model, systemPrompt: $system, wait: $wait) {{
    conversation {{ id currentMessageId messageCount }}
    userMessage {{ {MESSAGE_FIELDS} }}
    assistantMessage {{ {MESSAGE_FIELDS} }}
  }}
}}
"""

PROMPT = f"""
mutation($parent: ID!, $c: String!, $wait: Boolean) {{
  prompt(parentId: $parent, content: $c, wait: $wait) {{
    conversation {{ id currentMessageId messageCount }}
    userMessage {{ {MESSAGE_FIELDS} }}
    assistantMessage {{ {MESSAGE_FIELDS} }}
  }}
}}
"""

REGENERATE = f"""
mutation($id: ID!, $wait: Boolean) {{
  regenerate(messageId: $id, wait: $wait) {{ {MESSAGE_FIELDS} model }}
}}
"""

CONVERSATION = """
query($id: ID!) {
  conversation(id: $id) {
    messageCount currentMessageId root { id }
    messages { id role content status parentId }
  }
}
"""


async def create(api: Api, token: str, content: str = "first", **options: Any) -> dict[str, Any]:
    variables = {"c": content, "wait": True, **options}
    payload: dict[str, Any] = (await api.ok(CREATE, variables, token=token))["createConversation"]
    return payload


async def prompt(
    api: Api, token: str, parent: str, content: str, *, wait: bool = True
) -> dict[str, Any]:
    data = await api.ok(PROMPT, {"parent": parent, "c": content, "wait": wait}, token=token)
    payload: dict[str, Any] = data["prompt"]
    return payload


async def regenerate(api: Api, token: str, message_id: str, *, wait: bool = True) -> dict[str, Any]:
    data = await api.ok(REGENERATE, {"id": message_id, "wait": wait}, token=token)
    message: dict[str, Any] = data["regenerate"]
    return message


async def conversation(api: Api, token: str, conversation_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.ok(CONVERSATION, {"id": conversation_id}, token=token))[
        "conversation"
    ]
    return found


async def final(api: Api, token: str, message_id: str) -> dict[str, Any]:
    """The message once it is no longer STREAMING."""
    for _ in range(500):
        data = await api.ok(
            "query($id: ID!) { message(id: $id) { id status content error } }",
            {"id": message_id},
            token=token,
        )
        message: dict[str, Any] = data["message"]
        if message["status"] != "STREAMING":
            return message
        await asyncio.sleep(0.02)
    raise AssertionError(f"message {message_id} is still streaming")


def sent(fake: FakeModelServer) -> list[tuple[str, str]]:
    """What the model was sent with the latest reply request: (role, content) pairs."""
    return [(m["role"], m["content"]) for m in fake.chat_requests[-1]["messages"]]


SYSTEM = ("system", DEFAULT_SYSTEM_PROMPT)


# Prompting and what the model sees


async def test_a_prompt_under_a_reply_continues_the_branch_and_the_model_sees_all_of_it(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first")
    assert sent(fake_model) == [SYSTEM, ("user", "first")]
    reply = start["assistantMessage"]
    payload = await prompt(api, alice, reply["id"], "second")
    user, answer = payload["userMessage"], payload["assistantMessage"]
    assert (user["parentId"], user["depth"], user["role"]) == (reply["id"], 3, "USER")
    assert (answer["parentId"], answer["depth"], answer["status"]) == (user["id"], 4, "COMPLETE")
    assert answer["content"] == "Echo: second"
    assert payload["conversation"]["messageCount"] == 5
    assert payload["conversation"]["currentMessageId"] == answer["id"]
    assert sent(fake_model) == [
        SYSTEM,
        ("user", "first"),
        ("assistant", "Echo: first"),
        ("user", "second"),
    ]


async def test_editing_a_message_creates_a_sibling_branch_the_model_sees_alone(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first")
    first_reply = start["assistantMessage"]["id"]
    original = await prompt(api, alice, first_reply, "second")
    await prompt(api, alice, original["assistantMessage"]["id"], "third")

    edited = await prompt(api, alice, first_reply, "second, edited")

    user = edited["userMessage"]
    assert user["parentId"] == first_reply
    assert (user["siblingIndex"], user["siblingCount"]) == (2, 2)
    assert sent(fake_model) == [
        SYSTEM,
        ("user", "first"),
        ("assistant", "Echo: first"),
        ("user", "second, edited"),
    ]
    # The old branch stays.
    found = await conversation(api, alice, start["conversation"]["id"])
    assert found["messageCount"] == 9
    contents = [m["content"] for m in found["messages"]]
    assert "second" in contents and "third" in contents and "Echo: third" in contents
    assert found["currentMessageId"] == edited["assistantMessage"]["id"]


async def test_editing_the_first_message_sends_only_the_system_prompt_and_the_new_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first")
    await prompt(api, alice, start["assistantMessage"]["id"], "second")
    found = await conversation(api, alice, start["conversation"]["id"])

    edited = await prompt(api, alice, found["root"]["id"], "first, edited")

    assert edited["userMessage"]["parentId"] == found["root"]["id"]
    assert (edited["userMessage"]["siblingIndex"], edited["userMessage"]["siblingCount"]) == (2, 2)
    assert sent(fake_model) == [SYSTEM, ("user", "first, edited")]


async def test_a_conversation_keeps_its_model_for_later_prompts(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first", model="other-model")
    await prompt(api, alice, start["assistantMessage"]["id"], "second")
    assert fake_model.chat_requests[-1]["model"] == "other-model"
    message = await regenerate(api, alice, start["assistantMessage"]["id"])
    assert message["model"] == "other-model"
    assert fake_model.chat_requests[-1]["model"] == "other-model"


async def test_a_prompt_with_wait_returns_the_final_reply(api: Api, alice: str) -> None:
    start = await create(api, alice)
    payload = await prompt(api, alice, start["assistantMessage"]["id"], "more", wait=True)
    assert payload["assistantMessage"]["status"] == "COMPLETE"
    assert payload["assistantMessage"]["content"] == "Echo: more"


async def test_a_prompt_without_wait_returns_the_reply_streaming(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    gate = Gate()
    fake_model.replies["slowly"] = Reply(content="one two three four", gate=gate)
    start = await create(api, alice)
    payload = await prompt(api, alice, start["assistantMessage"]["id"], "slowly", wait=False)
    reply = payload["assistantMessage"]
    assert reply["status"] == "STREAMING"
    gate.open()
    done = await final(api, alice, reply["id"])
    assert (done["status"], done["content"]) == ("COMPLETE", "one two three four")


LEAN_PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c) { assistantMessage { id } }
}
"""


# What the server's upkeep may run meanwhile: heartbeats, the sweep of stale replies, the
# context size stored while the model is asked, the event pruner; and SQLite's BEGINs.
async def test_a_prompt_reaches_the_model_in_a_handful_of_statements(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    """Everything between a prompt and the model being asked is on the way to the first
    token: the caller's row, the limits, one read of the parent with its conversation
    and root, the rows and their events (one statement for all three), one read of what
    fits the context window."""
    start = await create(api, alice)
    gate = Gate()
    fake_model.replies["Hold on"] = Reply(content="Held.", gate=gate)
    streams = fake_model.streams_started
    async with api.counting_statements() as seen:
        await api.ok(
            LEAN_PROMPT, {"parent": start["assistantMessage"]["id"], "c": "Hold on"}, token=alice
        )
        await fake_model.wait_for_streams(streams + 1)
    gate.open()
    statements = of_requests(seen)
    assert len(statements) <= 11, "\n".join(statements)
    assert len([sql for sql in statements if sql.startswith("INSERT INTO events")]) == 1
    # No read of the model on its own, no lock of the prompt limit's key under the user's.
    assert not [sql for sql in statements if sql.startswith("SELECT conversations.model")]
    assert not [sql for sql in statements if "advisory" in sql]


async def test_a_later_mutation_field_reads_what_an_earlier_one_wrote(api: Api, alice: str) -> None:
    """The first field reads the conversation (and with it its newest message); the
    second adds a turn: its branch must end at the new reply, not where the first saw
    the conversation end."""
    start = await create(api, alice)
    reply = start["assistantMessage"]["id"]
    data = await api.ok(
        """
        mutation($r: ID!) {
          first: rateMessage(messageId: $r, rating: 1) { conversation { id } }
          second: prompt(parentId: $r, content: "and then?", wait: true) {
            assistantMessage { id }
            conversation { branch { id } branchLength }
          }
        }
        """,
        {"r": reply},
        token=alice,
    )
    second = data["second"]
    assert second["conversation"]["branch"][-1]["id"] == second["assistantMessage"]["id"]
    assert second["conversation"]["branchLength"] == len(second["conversation"]["branch"]) == 5


# Which parents are allowed


async def test_a_user_message_cannot_be_prompted_under(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice)
    requests = len(fake_model.chat_requests)
    error = await api.fails(
        PROMPT, {"parent": start["userMessage"]["id"], "c": "under a user"}, token=alice
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "parentId"
    found = await conversation(api, alice, start["conversation"]["id"])
    assert found["messageCount"] == 3
    assert len(fake_model.chat_requests) == requests


async def test_a_streaming_reply_cannot_be_prompted_under(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["hold"] = Reply(content="a b c d e f", stall_after=2)
    start = await create(api, alice, "hold", wait=False)
    await fake_model.wait_for_stream()
    streaming = start["assistantMessage"]["id"]
    error = await api.fails(PROMPT, {"parent": streaming, "c": "too soon"}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "parentId"
    found = await conversation(api, alice, start["conversation"]["id"])
    assert found["messageCount"] == 3
    await api.ok(
        "mutation($id: ID!) { cancelGeneration(messageId: $id) { id } }",
        {"id": streaming},
        token=alice,
    )


async def test_a_failed_reply_can_be_prompted_under_and_the_model_sees_its_partial_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["break"] = Reply(content="partial answer", cut_after=2, chunk_size=3)
    start = await create(api, alice, "break")
    failed = start["assistantMessage"]
    assert failed["status"] == "FAILED"
    assert failed["error"]
    assert failed["content"] == "partia"

    payload = await prompt(api, alice, failed["id"], "go on")

    assert payload["userMessage"]["parentId"] == failed["id"]
    assert payload["assistantMessage"]["status"] == "COMPLETE"
    assert sent(fake_model) == [
        SYSTEM,
        ("user", "break"),
        ("assistant", "partia"),
        ("user", "go on"),
    ]


async def test_a_cancelled_reply_can_be_prompted_under_and_the_model_sees_its_partial_text(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["hold"] = Reply(content="abcdefghijkl", stall_after=2, chunk_size=3)
    start = await create(api, alice, "hold", wait=False)
    await fake_model.wait_for_stream()
    reply_id = start["assistantMessage"]["id"]
    cancelled = await api.ok(
        "mutation($id: ID!) { cancelGeneration(messageId: $id) { status content } }",
        {"id": reply_id},
        token=alice,
    )
    assert cancelled["cancelGeneration"]["status"] == "CANCELLED"
    partial = cancelled["cancelGeneration"]["content"]

    await prompt(api, alice, reply_id, "go on")

    assert sent(fake_model)[-2:] == [("assistant", partial), ("user", "go on")]


# Regenerating


async def test_regenerating_a_reply_adds_a_sibling_and_the_model_does_not_see_the_old_one(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first")
    old = start["assistantMessage"]

    new = await regenerate(api, alice, old["id"])

    assert new["id"] != old["id"]
    assert (new["role"], new["status"], new["content"]) == ("ASSISTANT", "COMPLETE", "Echo: first")
    assert new["parentId"] == start["userMessage"]["id"]
    assert (new["siblingIndex"], new["siblingCount"], new["depth"]) == (2, 2, 2)
    assert sent(fake_model) == [SYSTEM, ("user", "first")]
    found = await conversation(api, alice, start["conversation"]["id"])
    assert found["messageCount"] == 4
    assert found["currentMessageId"] == new["id"]


async def test_regenerating_a_user_message_adds_one_more_reply_under_it(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first")
    user = start["userMessage"]

    new = await regenerate(api, alice, user["id"])

    assert new["parentId"] == user["id"]
    assert new["role"] == "ASSISTANT"
    assert (new["siblingIndex"], new["siblingCount"]) == (2, 2)
    assert sent(fake_model) == [SYSTEM, ("user", "first")]
    data = await api.ok(
        "query($id: ID!) { message(id: $id) { childCount children { id } } }",
        {"id": user["id"]},
        token=alice,
    )
    assert data["message"]["childCount"] == 2
    assert [c["id"] for c in data["message"]["children"]] == [
        start["assistantMessage"]["id"],
        new["id"],
    ]


async def test_regenerating_deep_in_one_branch_sends_only_that_branch(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "first")
    first_reply = start["assistantMessage"]["id"]
    kept = await prompt(api, alice, first_reply, "second")
    await prompt(api, alice, first_reply, "second, edited")

    await regenerate(api, alice, kept["assistantMessage"]["id"])

    assert sent(fake_model) == [
        SYSTEM,
        ("user", "first"),
        ("assistant", "Echo: first"),
        ("user", "second"),
    ]


async def test_the_root_cannot_be_regenerated(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice)
    found = await conversation(api, alice, start["conversation"]["id"])
    requests = len(fake_model.chat_requests)
    error = await api.fails(REGENERATE, {"id": found["root"]["id"]}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "messageId"
    assert (await conversation(api, alice, start["conversation"]["id"]))["messageCount"] == 3
    assert len(fake_model.chat_requests) == requests


async def test_regenerating_without_wait_returns_the_reply_streaming(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice, "again")
    gate = Gate()
    fake_model.replies["again"] = Reply(content="one two three four", gate=gate)
    new = await regenerate(api, alice, start["assistantMessage"]["id"], wait=False)
    assert new["status"] == "STREAMING"
    gate.open()
    done = await final(api, alice, new["id"])
    assert (done["status"], done["content"]) == ("COMPLETE", "one two three four")


# Input limits


async def test_content_of_the_maximum_length_is_accepted(api: Api, alice: str) -> None:
    start = await create(api, alice, "x" * MAX_LENGTH)
    assert start["userMessage"]["content"] == "x" * MAX_LENGTH
    payload = await prompt(api, alice, start["assistantMessage"]["id"], "é" * MAX_LENGTH)
    assert payload["userMessage"]["content"] == "é" * MAX_LENGTH


async def test_too_long_content_for_a_new_conversation_is_rejected_and_nothing_is_stored(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    error = await api.fails(CREATE, {"c": "x" * (MAX_LENGTH + 1)}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "content"
    assert "content" in error["message"]
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert listed["conversations"]["edges"] == []
    assert fake_model.chat_requests == []


async def test_a_too_long_system_prompt_is_rejected_naming_it(api: Api, alice: str) -> None:
    error = await api.fails(CREATE, {"c": "hi", "system": "s" * (MAX_LENGTH + 1)}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "systemPrompt"
    assert "systemPrompt" in error["message"]
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert listed["conversations"]["edges"] == []


async def test_too_long_content_for_a_prompt_is_rejected_and_nothing_is_stored(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    start = await create(api, alice)
    requests = len(fake_model.chat_requests)
    error = await api.fails(
        PROMPT,
        {"parent": start["assistantMessage"]["id"], "c": "x" * (MAX_LENGTH + 1)},
        token=alice,
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "content"
    assert "content" in error["message"]
    assert (await conversation(api, alice, start["conversation"]["id"]))["messageCount"] == 3
    assert len(fake_model.chat_requests) == requests


@pytest.mark.parametrize("content", ["", "   ", "\n\t"])
async def test_empty_content_is_rejected_everywhere(api: Api, alice: str, content: str) -> None:
    error = await api.fails(CREATE, {"c": content}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "content"
    start = await create(api, alice)
    error = await api.fails(
        PROMPT, {"parent": start["assistantMessage"]["id"], "c": content}, token=alice
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "content"
    assert (await conversation(api, alice, start["conversation"]["id"]))["messageCount"] == 3
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert len(listed["conversations"]["edges"]) == 1


@pytest.mark.parametrize("missing", ["999999", "0", "-1", "abc", "1.5"])
async def test_prompting_under_a_missing_message_is_not_found(
    api: Api, alice: str, missing: str
) -> None:
    error = await api.fails(PROMPT, {"parent": missing, "c": "hi"}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.fails(REGENERATE, {"id": missing}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize("bad", ["nul\x00byte", "lone \ud800 surrogate"])
async def test_text_no_database_can_store_is_bad_user_input_and_stores_nothing(
    api: Api, alice: str, bad: str
) -> None:
    first = await create(api, alice)
    reply_id = first["assistantMessage"]["id"]
    attempts = [
        (
            "mutation($c: String!) { createConversation(content: $c) { userMessage { id } } }",
            {"c": bad},
            "content",
        ),
        (
            'mutation($s: String!) { createConversation(content: "hi", systemPrompt: $s) '
            "{ userMessage { id } } }",
            {"s": bad},
            "systemPrompt",
        ),
        (
            'mutation($t: String!) { createConversation(content: "hi", title: $t) '
            "{ userMessage { id } } }",
            {"t": bad},
            "title",
        ),
        (
            'mutation($m: String!) { createConversation(content: "hi", model: $m) '
            "{ userMessage { id } } }",
            {"m": bad},
            "model",
        ),
        (
            "mutation($p: ID!, $c: String!) { prompt(parentId: $p, content: $c) "
            "{ userMessage { id } } }",
            {"p": reply_id, "c": bad},
            "content",
        ),
    ]
    for query, variables, argument in attempts:
        error = await api.fails(query, variables, token=alice)
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (argument, error)
        assert error["extensions"]["argument"] == argument
    data = await api.ok("{ conversations { edges { node { messageCount } } } }", token=alice)
    assert [edge["node"]["messageCount"] for edge in data["conversations"]["edges"]] == [3]

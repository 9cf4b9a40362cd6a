"""forkConversation copies one branch into a new conversation; deleteMessage removes a
subtree, stops its replies and moves the current message off it."""

from __future__ import annotations

from typing import Any

from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api
from tests.ws import final_message, until

CREATE = """
mutation($c: String!) {
  createConversation(content: $c, title: "Source", wait: true) {
    conversation { id }
    userMessage { id }
    assistantMessage { id }
  }
}
"""

PROMPT = """
mutation($parent: ID!, $c: String!, $wait: Boolean) {
  prompt(parentId: $parent, content: $c, wait: $wait) {
    userMessage { id }
    assistantMessage { id }
  }
}
"""

REGENERATE = "mutation($id: ID!) { regenerate(messageId: $id, wait: true) { id } }"

FORK = """
mutation($id: ID!, $title: String) {
  forkConversation(messageId: $id, title: $title) {
    id title model currentMessageId
    forkedFrom { id }
    messages { id parentId role content status model depth createdAt }
  }
}
"""

DELETE = """
mutation($id: ID!) { deleteMessage(id: $id) { id currentMessageId messageCount } }
"""

CONVERSATION = """
query($id: ID!) {
  conversation(id: $id) {
    currentMessageId forkedFrom { id }
    messages { id parentId role content status model depth createdAt }
  }
}
"""


async def conversation(api: Api, token: str, conversation_id: str) -> dict[str, Any]:
    data = await api.ok(CONVERSATION, {"id": conversation_id}, token=token)
    found: dict[str, Any] = data["conversation"]
    return found


async def two_turns(api: Api, token: str) -> dict[str, str]:
    """root → u1 → a1 → u2 → a2, with a2b regenerated beside a2."""
    created = (await api.ok(CREATE, {"c": "first"}, token=token))["createConversation"]
    turn = (
        await api.ok(
            PROMPT,
            {"parent": created["assistantMessage"]["id"], "c": "second", "wait": True},
            token=token,
        )
    )["prompt"]
    a2b = await api.ok(REGENERATE, {"id": turn["assistantMessage"]["id"]}, token=token)
    return {
        "conversation": created["conversation"]["id"],
        "u1": created["userMessage"]["id"],
        "a1": created["assistantMessage"]["id"],
        "u2": turn["userMessage"]["id"],
        "a2": turn["assistantMessage"]["id"],
        "a2b": a2b["regenerate"]["id"],
    }


def fields(message: dict[str, Any]) -> tuple[Any, ...]:
    return (
        message["role"],
        message["content"],
        message["status"],
        message["model"],
        message["depth"],
        message["createdAt"],
    )


async def test_a_fork_copies_the_path_to_the_message_and_nothing_else(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    source = await conversation(api, alice, ids["conversation"])
    fork = (await api.ok(FORK, {"id": ids["a2"], "title": None}, token=alice))["forkConversation"]

    by_id = {m["id"]: m for m in source["messages"]}
    path = [
        by_id[m] for m in (source["messages"][0]["id"], ids["u1"], ids["a1"], ids["u2"], ids["a2"])
    ]
    assert [fields(m) for m in fork["messages"]] == [fields(m) for m in path]
    copies = fork["messages"]
    assert copies[0]["parentId"] is None
    assert [m["parentId"] for m in copies[1:]] == [m["id"] for m in copies[:-1]]
    assert not {m["id"] for m in copies} & set(by_id)
    assert fork["currentMessageId"] == copies[-1]["id"]
    assert fork["forkedFrom"] == {"id": ids["a2"]}
    assert fork["title"] == "Source"
    # The source is untouched.
    assert await conversation(api, alice, ids["conversation"]) == source


async def test_a_fork_takes_a_title_and_can_be_prompted_on_its_own(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    fork = (await api.ok(FORK, {"id": ids["a1"], "title": "  My   fork "}, token=alice))[
        "forkConversation"
    ]
    assert fork["title"] == "My fork"
    await api.ok(
        PROMPT, {"parent": fork["currentMessageId"], "c": "more", "wait": True}, token=alice
    )
    assert len((await conversation(api, alice, fork["id"]))["messages"]) == 5
    assert len((await conversation(api, alice, ids["conversation"]))["messages"]) == 6


async def test_forkedfrom_is_null_once_the_source_message_is_deleted(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    fork = (await api.ok(FORK, {"id": ids["a2"], "title": None}, token=alice))["forkConversation"]
    await api.ok(DELETE, {"id": ids["u2"]}, token=alice)
    assert (await conversation(api, alice, fork["id"]))["forkedFrom"] is None


async def test_forking_bad_input_and_other_users_ids_change_nothing(
    api: Api, alice: str, bob: str, fake_model: FakeModelServer
) -> None:
    ids = await two_turns(api, alice)
    for bad in (ids["a2"], "0", "abc", "99999999"):
        error = await api.fails(FORK, {"id": bad, "title": None}, token=bob)
        assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.fails(FORK, {"id": ids["a2"], "title": "   "}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    error = await api.fails(FORK, {"id": ids["a2"], "title": None})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

    fake_model.replies["stall"] = Reply(content="x " * 50, stall_after=1)
    streaming = (
        await api.ok(PROMPT, {"parent": ids["a2"], "c": "stall", "wait": False}, token=alice)
    )["prompt"]["assistantMessage"]["id"]
    error = await api.fails(FORK, {"id": streaming, "title": None}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    listed = await api.ok("{ conversations { edges { node { id } } } }", token=alice)
    assert len(listed["conversations"]["edges"]) == 1


async def test_deleting_a_message_removes_its_subtree_and_moves_the_current_message(
    api: Api, alice: str
) -> None:
    ids = await two_turns(api, alice)
    # The current message is a2b, below u2.
    deleted = (await api.ok(DELETE, {"id": ids["u2"]}, token=alice))["deleteMessage"]
    assert deleted["currentMessageId"] == ids["a1"]
    assert deleted["messageCount"] == 3
    left = await conversation(api, alice, ids["conversation"])
    assert [m["id"] for m in left["messages"][1:]] == [ids["u1"], ids["a1"]]


async def test_deleting_another_branch_leaves_the_current_message(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    deleted = (await api.ok(DELETE, {"id": ids["a2"]}, token=alice))["deleteMessage"]
    assert deleted["currentMessageId"] == ids["a2b"]
    assert deleted["messageCount"] == 5


async def test_deleting_a_branch_stops_its_streaming_reply(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    ids = await two_turns(api, alice)
    fake_model.replies["stall"] = Reply(content="x " * 50, stall_after=1)
    turn = (await api.ok(PROMPT, {"parent": ids["a2b"], "c": "stall", "wait": False}, token=alice))[
        "prompt"
    ]
    await fake_model.wait_for_streams(1)
    await api.ok(DELETE, {"id": turn["userMessage"]["id"]}, token=alice)
    await until(lambda: fake_model.disconnects == 1)
    await until(lambda: not api.services.generations.replies)
    left = await conversation(api, alice, ids["conversation"])
    assert left["currentMessageId"] == ids["a2b"]
    assert turn["assistantMessage"]["id"] not in {m["id"] for m in left["messages"]}


async def test_deleting_the_root_or_someone_elses_message_changes_nothing(
    api: Api, alice: str, bob: str
) -> None:
    ids = await two_turns(api, alice)
    root = (await conversation(api, alice, ids["conversation"]))["messages"][0]["id"]
    error = await api.fails(DELETE, {"id": root}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    for bad in (ids["u2"], "-1", "x", "99999999"):
        error = await api.fails(DELETE, {"id": bad}, token=bob)
        assert error["extensions"]["code"] == "NOT_FOUND"
    assert len((await conversation(api, alice, ids["conversation"]))["messages"]) == 6
    final = await final_message(api, alice, ids["a2b"])
    assert final["status"] == "COMPLETE"

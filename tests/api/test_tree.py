"""Reading the message tree: branches, children, paths, descendants, the current
message, and the number of SQL statements a read costs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from chattree.db.models import Conversation as ConversationRow
from chattree.db.models import Message as MessageRow
from chattree.db.models import Role, Status
from chattree.db.types import utcnow
from tests.harness import Api, of_requests


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # No periodic sweep during a test: statement counts must be the request's alone.
    return {**server_env, "HEARTBEAT_INTERVAL": "600", "STALE_AFTER": "1200"}


CREATE = """
mutation($c: String!) {
  createConversation(content: $c, title: "Tree", wait: true) {
    conversation { id }
    userMessage { id }
    assistantMessage { id }
  }
}
"""

PROMPT = """
mutation($parent: ID!, $c: String!) {
  prompt(parentId: $parent, content: $c, wait: true) {
    userMessage { id }
    assistantMessage { id }
  }
}
"""

REGENERATE = "mutation($id: ID!) { regenerate(messageId: $id, wait: true) { id } }"

SELECT = """
mutation($id: ID!) {
  selectBranch(messageId: $id) { id currentMessageId currentBranch { id } }
}
"""


@dataclass
class Tree:
    """A conversation built through the API, in this order of creation:

    root
    ├── u1 "first"
    │   └── a1
    │       └── u2 "second"
    │           ├── a2
    │           └── a2b   (regenerated, the newest message)
    └── u1b "first, edited"
        └── a1b
    """

    conversation: str
    root: str
    u1: str
    a1: str
    u2: str
    a2: str
    u1b: str
    a1b: str
    a2b: str

    @property
    def in_order(self) -> list[str]:
        return [self.root, self.u1, self.a1, self.u2, self.a2, self.u1b, self.a1b, self.a2b]


async def build_tree(api: Api, token: str) -> Tree:
    start = (await api.ok(CREATE, {"c": "first"}, token=token))["createConversation"]
    conversation = start["conversation"]["id"]
    root = (
        await api.ok(
            "query($id: ID!) { conversation(id: $id) { root { id } } }",
            {"id": conversation},
            token=token,
        )
    )["conversation"]["root"]["id"]
    a1 = start["assistantMessage"]["id"]
    second = (await api.ok(PROMPT, {"parent": a1, "c": "second"}, token=token))["prompt"]
    edited = (await api.ok(PROMPT, {"parent": root, "c": "first, edited"}, token=token))["prompt"]
    a2 = second["assistantMessage"]["id"]
    a2b = (await api.ok(REGENERATE, {"id": a2}, token=token))["regenerate"]["id"]
    return Tree(
        conversation=conversation,
        root=root,
        u1=start["userMessage"]["id"],
        a1=a1,
        u2=second["userMessage"]["id"],
        a2=a2,
        u1b=edited["userMessage"]["id"],
        a1b=edited["assistantMessage"]["id"],
        a2b=a2b,
    )


@pytest.fixture
async def tree(api: Api, alice: str) -> Tree:
    return await build_tree(api, alice)


async def read_conversation(api: Api, token: str, conversation_id: str, fields: str) -> Any:
    data = await api.ok(
        f"query($id: ID!) {{ conversation(id: $id) {{ {fields} }} }}",
        {"id": conversation_id},
        token=token,
    )
    return data["conversation"]


async def read_message(api: Api, token: str, message_id: str, fields: str) -> Any:
    data = await api.ok(
        f"query($id: ID!) {{ message(id: $id) {{ {fields} }} }}", {"id": message_id}, token=token
    )
    return data["message"]


def ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["id"] for m in messages]


# Branches


async def test_the_branch_without_through_ends_at_the_newest_message(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_conversation(api, alice, tree.conversation, "branch { id }")
    assert ids(found["branch"]) == [tree.root, tree.u1, tree.a1, tree.u2, tree.a2b]


async def test_the_branch_through_an_older_message_ends_at_the_newest_message_under_it(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_conversation(
        api, alice, tree.conversation, f'branch(through: "{tree.u1b}") {{ id }}'
    )
    assert ids(found["branch"]) == [tree.root, tree.u1b, tree.a1b]


async def test_the_branch_through_a_message_with_a_newer_descendant_goes_down_to_it(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_conversation(
        api,
        alice,
        tree.conversation,
        f'viaU1: branch(through: "{tree.u1}") {{ id }} '
        f'viaRoot: branch(through: "{tree.root}") {{ id }} '
        f'viaA2: branch(through: "{tree.a2}") {{ id }}',
    )
    assert ids(found["viaU1"]) == [tree.root, tree.u1, tree.a1, tree.u2, tree.a2b]
    assert ids(found["viaRoot"]) == [tree.root, tree.u1, tree.a1, tree.u2, tree.a2b]
    assert ids(found["viaA2"]) == [tree.root, tree.u1, tree.a1, tree.u2, tree.a2]


@pytest.mark.parametrize("through", ["999999", "abc", "0", ""])
async def test_the_branch_through_a_missing_message_is_not_found(
    api: Api, alice: str, tree: Tree, through: str
) -> None:
    error = await api.fails(
        "query($id: ID!, $t: ID) { conversation(id: $id) { branch(through: $t) { id } } }",
        {"id": tree.conversation, "t": through},
        token=alice,
    )
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_the_branch_through_a_message_of_another_conversation_is_not_found(
    api: Api, alice: str, tree: Tree
) -> None:
    other = await build_tree(api, alice)
    error = await api.fails(
        "query($id: ID!, $t: ID) { conversation(id: $id) { branch(through: $t) { id } } }",
        {"id": tree.conversation, "t": other.a1},
        token=alice,
    )
    assert error["extensions"]["code"] == "NOT_FOUND"


# The whole tree


async def test_messages_are_every_message_oldest_first(api: Api, alice: str, tree: Tree) -> None:
    found = await read_conversation(
        api, alice, tree.conversation, "messageCount messages { id parentId role }"
    )
    assert ids(found["messages"]) == tree.in_order
    assert found["messageCount"] == 8
    parents = {m["id"]: m["parentId"] for m in found["messages"]}
    assert parents == {
        tree.root: None,
        tree.u1: tree.root,
        tree.a1: tree.u1,
        tree.u2: tree.a1,
        tree.a2: tree.u2,
        tree.u1b: tree.root,
        tree.a1b: tree.u1b,
        tree.a2b: tree.u2,
    }
    roles = [m["role"] for m in found["messages"]]
    assert roles == [
        "SYSTEM",
        "USER",
        "ASSISTANT",
        "USER",
        "ASSISTANT",
        "USER",
        "ASSISTANT",
        "ASSISTANT",
    ]


async def test_the_root_is_the_system_message_and_first_of_one(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_conversation(
        api,
        alice,
        tree.conversation,
        "root { id role depth parentId parent { id } siblingIndex siblingCount childCount "
        "path { id } }",
    )
    assert found["root"] == {
        "id": tree.root,
        "role": "SYSTEM",
        "depth": 0,
        "parentId": None,
        "parent": None,
        "siblingIndex": 1,
        "siblingCount": 1,
        "childCount": 2,
        "path": [{"id": tree.root}],
    }


async def test_children_are_oldest_first_with_their_positions_among_siblings(
    api: Api, alice: str, tree: Tree
) -> None:
    expected_children = {
        tree.root: [tree.u1, tree.u1b],
        tree.u1: [tree.a1],
        tree.a1: [tree.u2],
        tree.u2: [tree.a2, tree.a2b],
        tree.a2: [],
        tree.u1b: [tree.a1b],
        tree.a1b: [],
        tree.a2b: [],
    }
    positions = {
        tree.root: (1, 1),
        tree.u1: (1, 2),
        tree.u1b: (2, 2),
        tree.a1: (1, 1),
        tree.u2: (1, 1),
        tree.a2: (1, 2),
        tree.a2b: (2, 2),
        tree.a1b: (1, 1),
    }
    found = await read_conversation(
        api,
        alice,
        tree.conversation,
        "messages { id childCount siblingIndex siblingCount children { id } }",
    )
    for message in found["messages"]:
        assert ids(message["children"]) == expected_children[message["id"]]
        assert message["childCount"] == len(expected_children[message["id"]])
        assert (message["siblingIndex"], message["siblingCount"]) == positions[message["id"]]


async def test_a_message_knows_its_parent_depth_path_and_conversation(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_message(
        api,
        alice,
        tree.a2b,
        "id depth parentId parent { id parent { id } } conversationId conversation { id title } "
        "path { id depth }",
    )
    assert found["depth"] == 4
    assert found["parentId"] == tree.u2
    assert found["parent"] == {"id": tree.u2, "parent": {"id": tree.a1}}
    assert found["conversationId"] == tree.conversation
    assert found["conversation"] == {"id": tree.conversation, "title": "Tree"}
    assert found["path"] == [
        {"id": tree.root, "depth": 0},
        {"id": tree.u1, "depth": 1},
        {"id": tree.a1, "depth": 2},
        {"id": tree.u2, "depth": 3},
        {"id": tree.a2b, "depth": 4},
    ]


async def test_descendants_are_shallowest_first_down_to_max_depth(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_message(
        api,
        alice,
        tree.root,
        "all: descendants { id } "
        "explicitNull: descendants(maxDepth: null) { id } "
        "none: descendants(maxDepth: 0) { id } "
        "one: descendants(maxDepth: 1) { id } "
        "two: descendants(maxDepth: 2) { id } "
        "deep: descendants(maxDepth: 50) { id }",
    )
    everything = [tree.u1, tree.u1b, tree.a1, tree.a1b, tree.u2, tree.a2, tree.a2b]
    assert ids(found["all"]) == everything
    assert ids(found["explicitNull"]) == everything
    assert ids(found["none"]) == []
    assert ids(found["one"]) == [tree.u1, tree.u1b]
    assert ids(found["two"]) == [tree.u1, tree.u1b, tree.a1, tree.a1b]
    assert ids(found["deep"]) == everything


async def test_descendants_of_an_inner_message_stay_in_its_subtree(
    api: Api, alice: str, tree: Tree
) -> None:
    found = await read_message(
        api, alice, tree.u1, "all: descendants { id } one: descendants(maxDepth: 1) { id }"
    )
    assert ids(found["all"]) == [tree.a1, tree.u2, tree.a2, tree.a2b]
    assert ids(found["one"]) == [tree.a1]
    leaf = await read_message(api, alice, tree.a1b, "descendants { id }")
    assert leaf["descendants"] == []


async def test_a_negative_max_depth_is_rejected(api: Api, alice: str, tree: Tree) -> None:
    error = await api.fails(
        "query($id: ID!) { message(id: $id) { descendants(maxDepth: -1) { id } } }",
        {"id": tree.root},
        token=alice,
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "maxDepth"


# Query.children, Query.message, Query.conversation


async def test_query_children_lists_direct_children_oldest_first(
    api: Api, alice: str, tree: Tree
) -> None:
    query = "query($id: ID!) { children(id: $id) { id parentId } }"
    root = await api.ok(query, {"id": tree.root}, token=alice)
    assert ids(root["children"]) == [tree.u1, tree.u1b]
    assert {c["parentId"] for c in root["children"]} == {tree.root}
    assert ids((await api.ok(query, {"id": tree.u2}, token=alice))["children"]) == [
        tree.a2,
        tree.a2b,
    ]
    assert (await api.ok(query, {"id": tree.a1b}, token=alice))["children"] == []


@pytest.mark.parametrize(
    "missing", ["999999", "abc", "0", "-1", "99999999999999999999999", "²", "٢"]
)
async def test_query_children_of_a_missing_message_is_not_found(
    api: Api, alice: str, missing: str
) -> None:
    error = await api.fails(
        "query($id: ID!) { children(id: $id) { id } }", {"id": missing}, token=alice
    )
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_query_message_returns_the_message(api: Api, alice: str, tree: Tree) -> None:
    found = await read_message(api, alice, tree.u1b, "id role content status conversationId")
    assert found == {
        "id": tree.u1b,
        "role": "USER",
        "content": "first, edited",
        "status": "COMPLETE",
        "conversationId": tree.conversation,
    }


async def test_a_missing_or_malformed_id_is_null_for_message_and_conversation(
    api: Api, alice: str, tree: Tree
) -> None:
    # "³", "٣" and a full-width 1 are digits to str.isdigit() but not decimal row ids;
    # "٣" would otherwise read as 3, an id that exists here.
    for missing in [
        "999999",
        "abc",
        "0",
        "-1",
        "1e3",
        "99999999999999999999999",
        "",
        " ",
        "³",
        "٣",
        "\uff11",
        "3.0",
        "0x3",
    ]:
        data = await api.ok(
            "query($id: ID!) { message(id: $id) { id } conversation(id: $id) { id } }",
            {"id": missing},
            token=alice,
        )
        assert data == {"message": None, "conversation": None}, missing


# The current message


async def current(api: Api, token: str, conversation_id: str) -> tuple[str, list[str]]:
    found = await read_conversation(
        api, token, conversation_id, "currentMessageId currentBranch { id }"
    )
    return found["currentMessageId"], ids(found["currentBranch"])


async def test_the_current_message_follows_prompts_edits_and_regenerations(
    api: Api, alice: str
) -> None:
    start = (await api.ok(CREATE, {"c": "first"}, token=alice))["createConversation"]
    conversation = start["conversation"]["id"]
    a1 = start["assistantMessage"]["id"]
    assert (await current(api, alice, conversation))[0] == a1

    second = (await api.ok(PROMPT, {"parent": a1, "c": "second"}, token=alice))["prompt"]
    a2 = second["assistantMessage"]["id"]
    assert (await current(api, alice, conversation))[0] == a2

    root = (await read_conversation(api, alice, conversation, "root { id }"))["root"]["id"]
    edited = (await api.ok(PROMPT, {"parent": root, "c": "edited"}, token=alice))["prompt"]
    a1b = edited["assistantMessage"]["id"]
    assert await current(api, alice, conversation) == (
        a1b,
        [root, edited["userMessage"]["id"], a1b],
    )

    a2b = (await api.ok(REGENERATE, {"id": a2}, token=alice))["regenerate"]["id"]
    assert await current(api, alice, conversation) == (
        a2b,
        [root, start["userMessage"]["id"], a1, second["userMessage"]["id"], a2b],
    )


async def test_select_branch_moves_to_the_newest_message_under_it_and_persists(
    api: Api, alice: str, tree: Tree
) -> None:
    data = await api.ok(SELECT, {"id": tree.u1b}, token=alice)
    assert data["selectBranch"] == {
        "id": tree.conversation,
        "currentMessageId": tree.a1b,
        "currentBranch": [{"id": tree.root}, {"id": tree.u1b}, {"id": tree.a1b}],
    }
    # A new request (a reload, another device) lands on the same branch.
    other_device = (
        await api.ok('mutation { login(username: "alice", password: "correct horse") { token } }')
    )["login"]["token"]
    assert await current(api, other_device, tree.conversation) == (
        tree.a1b,
        [tree.root, tree.u1b, tree.a1b],
    )
    # The newest message's branch is unaffected: `branch` does not follow the selection.
    found = await read_conversation(api, alice, tree.conversation, "branch { id }")
    assert ids(found["branch"])[-1] == tree.a2b


async def test_select_branch_on_a_leaf_selects_the_leaf_and_on_the_root_the_newest(
    api: Api, alice: str, tree: Tree
) -> None:
    data = await api.ok(SELECT, {"id": tree.a2}, token=alice)
    assert data["selectBranch"]["currentMessageId"] == tree.a2
    assert (await current(api, alice, tree.conversation))[0] == tree.a2
    data = await api.ok(SELECT, {"id": tree.root}, token=alice)
    assert data["selectBranch"]["currentMessageId"] == tree.a2b


async def test_a_prompt_after_select_branch_moves_the_current_message_again(
    api: Api, alice: str, tree: Tree
) -> None:
    await api.ok(SELECT, {"id": tree.u1b}, token=alice)
    reply = (await api.ok(PROMPT, {"parent": tree.a1b, "c": "more"}, token=alice))["prompt"]
    assert (await current(api, alice, tree.conversation))[0] == reply["assistantMessage"]["id"]


@pytest.mark.parametrize("missing", ["999999", "abc", "0"])
async def test_select_branch_on_a_missing_message_is_not_found(
    api: Api, alice: str, tree: Tree, missing: str
) -> None:
    error = await api.fails(SELECT, {"id": missing}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert (await current(api, alice, tree.conversation))[0] == tree.a2b


# "Newest" when timestamps tie


async def insert_message(
    api: Api, *, parent_id: str, content: str, created_at: datetime, role: Role = Role.USER
) -> str:
    """A message row straight into the database, bypassing the service."""
    async with api.services.db.transaction() as session:
        parent = await session.get_one(MessageRow, int(parent_id))
        row = MessageRow(
            conversation_id=parent.conversation_id,
            parent_id=parent.id,
            role=role,
            content=content,
            status=Status.COMPLETE,
            depth=parent.depth + 1,
            created_at=created_at,
        )
        session.add(row)
        await session.flush()
        return str(row.id)


async def test_messages_inserted_in_the_same_instant_are_ordered_by_id(
    api: Api, alice: str, tree: Tree
) -> None:
    instant = datetime(2030, 1, 1, 12, 0, 0, 0, tzinfo=UTC)
    first = await insert_message(api, parent_id=tree.a1b, content="x", created_at=instant)
    second = await insert_message(api, parent_id=tree.a1b, content="y", created_at=instant)
    elsewhere = await insert_message(api, parent_id=tree.a2, content="z", created_at=instant)
    last = await insert_message(api, parent_id=tree.a1b, content="w", created_at=instant)

    found = await read_conversation(
        api,
        alice,
        tree.conversation,
        f'branch {{ id }} through: branch(through: "{tree.u1b}") {{ id }} messages {{ id }}',
    )
    assert ids(found["branch"]) == [tree.root, tree.u1b, tree.a1b, last]
    assert ids(found["through"]) == [tree.root, tree.u1b, tree.a1b, last]
    assert ids(found["messages"])[-4:] == [first, second, elsewhere, last]

    children = await read_message(api, alice, tree.a1b, "children { id siblingIndex siblingCount }")
    assert children["children"] == [
        {"id": first, "siblingIndex": 1, "siblingCount": 3},
        {"id": second, "siblingIndex": 2, "siblingCount": 3},
        {"id": last, "siblingIndex": 3, "siblingCount": 3},
    ]
    selected = await api.ok(SELECT, {"id": tree.root}, token=alice)
    assert selected["selectBranch"]["currentMessageId"] == last
    through_a2 = await read_conversation(
        api, alice, tree.conversation, f'branch(through: "{tree.a2}") {{ id }}'
    )
    assert ids(through_a2["branch"])[-1] == elsewhere


# How many statements a read costs


async def insert_tree(api: Api, token: str, width: int) -> tuple[str, int]:
    """A conversation of 1 + 15 * width messages straight into the database: the root has
    `width` user messages, each 2 replies, each 2 user messages, each 1 reply, each 1
    user message (six levels, with branching at the top)."""
    owner = int((await api.ok("{ me { id } }", token=token))["me"]["id"])
    fan_out = [width, 2, 2, 1, 1]
    now = utcnow()
    async with api.services.db.transaction() as session:
        conversation = ConversationRow(
            user_id=owner,
            title=f"big {width}",
            model="test-model",
            created_at=now,
            updated_at=now,
        )
        session.add(conversation)
        await session.flush()
        root = MessageRow(
            conversation_id=conversation.id,
            role=Role.SYSTEM,
            content="system",
            status=Status.COMPLETE,
            depth=0,
            created_at=now,
        )
        session.add(root)
        await session.flush()
        level, total = [root], 1
        for depth, count in enumerate(fan_out, start=1):
            role = Role.USER if depth % 2 else Role.ASSISTANT
            level = [
                MessageRow(
                    conversation_id=conversation.id,
                    parent_id=parent.id,
                    role=role,
                    content=f"m{depth}.{i}",
                    status=Status.COMPLETE,
                    depth=depth,
                    created_at=now,
                )
                for parent in level
                for i in range(count)
            ]
            session.add_all(level)
            await session.flush()
            total += len(level)
    return str(conversation.id), total


@pytest.fixture
async def small_and_large(api: Api, alice: str) -> tuple[str, str]:
    small, small_total = await insert_tree(api, alice, width=7)
    large, large_total = await insert_tree(api, alice, width=20)
    assert small_total >= 100
    assert large_total >= 300
    return small, large


async def statements_for(api: Api, token: str, query: str, conversation_id: str) -> int:
    async with api.counting_statements() as seen:
        await api.ok(query, {"id": conversation_id}, token=token)
    return len(seen)


NESTED_CHILDREN = """
query($id: ID!) {
  conversation(id: $id) {
    root { children { children { children { children {
      id childCount siblingIndex siblingCount parent { id }
    } } } } }
  }
}
"""

EVERY_PATH = "query($id: ID!) { conversation(id: $id) { messages { id path { id } } } }"

# Each query below follows one line of selection: sibling fields that reach the same
# DataLoader after different round trips may be batched together or not, depending on
# timing, which would make the counts differ without any per-node query.
DESCENDANTS = """
query($id: ID!) {
  conversation(id: $id) {
    root { descendants { id childCount siblingIndex siblingCount parent { id } } }
  }
}
"""

NEAR_DESCENDANTS = """
query($id: ID!) {
  conversation(id: $id) {
    root { descendants(maxDepth: 2) { id descendants(maxDepth: 1) { id children { id } } } }
  }
}
"""

EVERY_FIELD = """
query($id: ID!) {
  conversation(id: $id) {
    messageCount branch { id } currentBranch { id }
    messages {
      id depth parent { id } children { id } childCount siblingIndex siblingCount
      conversation { id title }
    }
  }
}
"""


@pytest.mark.parametrize(
    "query",
    [NESTED_CHILDREN, EVERY_PATH, DESCENDANTS, NEAR_DESCENDANTS, EVERY_FIELD],
    ids=["nested-children", "every-path", "descendants", "near-descendants", "every-field"],
)
async def test_the_statements_of_a_tree_read_do_not_grow_with_the_tree(
    api: Api, alice: str, small_and_large: tuple[str, str], query: str
) -> None:
    small, large = small_and_large
    small_count = await statements_for(api, alice, query, small)
    large_count = await statements_for(api, alice, query, large)
    # Bounded by the shape of the selection, not by the 106 or 301 messages. (Sibling
    # fields that reach one loader in different event-loop turns may make two batches
    # instead of one, so the two counts are not required to be equal.)
    assert small_count < 20
    assert large_count < 20


async def test_counts_parents_and_the_newest_come_from_rows_the_request_read(
    api: Api, alice: str, small_and_large: tuple[str, str]
) -> None:
    _, large = small_and_large
    query = """
    query($id: ID!) { conversation(id: $id) {
      branch { id childCount children { id } parent { id } }
    } }
    """
    async with api.counting_statements() as seen:
        branch = (await api.ok(query, {"id": large}, token=alice))["conversation"]["branch"]
    assert [m["parent"]["id"] for m in branch[1:]] == [m["id"] for m in branch[:-1]]
    assert branch[0]["parent"] is None
    assert all(m["childCount"] == len(m["children"]) for m in branch)
    statements = of_requests(seen)
    # The caller, the conversation with its newest message, the branch, the children:
    # no count, no lookup of a parent or of the newest message on its own.
    assert len(statements) == 4, "\n".join(statements)
    assert not [sql for sql in statements if "count(" in sql.lower()]


async def test_the_nested_children_read_returns_the_whole_selection(
    api: Api, alice: str, small_and_large: tuple[str, str]
) -> None:
    _, large = small_and_large
    found = (await api.ok(NESTED_CHILDREN, {"id": large}, token=alice))["conversation"]
    level = [found["root"]]
    for _ in range(4):
        level = [child for message in level for child in message["children"]]
    assert len(level) == 20 * 2 * 2 * 1
    assert all(m["childCount"] == 1 for m in level)
    assert all((m["siblingIndex"], m["siblingCount"]) == (1, 1) for m in level)
    paths = (await api.ok(EVERY_PATH, {"id": large}, token=alice))["conversation"]["messages"]
    assert len(paths) == 301
    assert all(p["path"][-1]["id"] == p["id"] for p in paths)


async def test_listing_conversations_costs_the_same_for_few_or_many(api: Api, alice: str) -> None:
    query = """
    query { conversations(first: 100) { edges { node {
      id messageCount root { id childCount children { id } } branch { id }
    } } } }
    """
    await insert_tree(api, alice, width=1)
    async with api.counting_statements() as seen:
        await api.ok(query, token=alice)
    few = len(seen)
    for width in (2, 3, 4):
        await insert_tree(api, alice, width=width)
    async with api.counting_statements() as seen:
        data = await api.ok(query, token=alice)
    assert len(data["conversations"]["edges"]) == 4
    assert len(seen) == few
    assert few < 20

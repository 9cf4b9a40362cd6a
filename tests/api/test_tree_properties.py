"""The tree checked against a model of it: hypothesis runs random sequences of prompts,
edits, regenerations, branch selections, cancels, deletions, model failures, bad input
and another user's ids through the real app, and after every step every tree field the
API offers must equal what the model (tests/api/tree_model.py) says.

The state machine runs in a worker thread and sends each call to the event loop of the
test, where the server and the fake model live. Every step is deterministic: prompts
use `wait: true`, and the reply to cancel is held by a gate in the fake model.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from tests.api.tree_model import Node, TreeModel
from tests.fake_model import FakeModelServer, Gate, Reply
from tests.harness import Api, GraphQLFailure
from tests.ws import published, until

T = TypeVar("T")

# Bounded so that one database takes well under a minute.
BUDGET = settings(
    max_examples=6,
    stateful_step_count=10,
    deadline=None,
    database=None,
    derandomize=True,  # the same sequences on every run: CI stays reproducible
    suppress_health_check=[HealthCheck.too_slow],
)

SYSTEM_PROMPT = "You are a tree."
CREATE = """
mutation($c: String!, $s: String!) {
  createConversation(content: $c, title: "Tree", systemPrompt: $s, wait: true) {
    conversation { id root { id } }
    userMessage { id }
    assistantMessage { id status content }
  }
}
"""
PROMPT = """
mutation($parent: ID!, $c: String!, $wait: Boolean!) {
  prompt(parentId: $parent, content: $c, wait: $wait) {
    userMessage { id }
    assistantMessage { id status content }
  }
}
"""
REGENERATE = "mutation($id: ID!) { regenerate(messageId: $id, wait: true) { id status content } }"
SELECT = "mutation($id: ID!) { selectBranch(messageId: $id) { currentMessageId } }"
CANCEL = "mutation($id: ID!) { cancelGeneration(messageId: $id) { status content error } }"
DELETE = "mutation($id: ID!) { deleteConversation(id: $id) }"
STATE = """
query($id: ID!) {
  conversation(id: $id) {
    messageCount currentMessageId
    root { id }
    branch { id }
    currentBranch { id }
    messages {
      id parentId role content status error depth childCount siblingIndex siblingCount
      children { id } path { id } descendants { id } below: descendants(maxDepth: 1) { id }
    }
    %s
  }
  %s
}
"""
MORE = "query($id: ID!) { conversation(id: $id) { %s } %s }"
# branch(through:) and Query.children for this many messages per request: two aliases
# each, within the server's limit of 50.
THROUGH_BATCH = 20


def aliases(message_ids: list[int]) -> tuple[str, str]:
    """Fields asking branch(through:) of each id (of a Conversation), and children(id:)
    of each (of Query)."""
    branches = " ".join(f't{i}: branch(through: "{i}") {{ id }}' for i in message_ids)
    children = " ".join(f'c{i}: children(id: "{i}") {{ id }}' for i in message_ids)
    return branches, children


OUTCOMES = ("echo", "http_error", "cut_stream")
HELD_TEXT = "abcdefghijklmnopqrstuvwxyz"  # the reply to cancel, 3 characters a chunk


@dataclass
class World:
    """What the machine drives: the server and fake model in the test's event loop."""

    loop: asyncio.AbstractEventLoop
    api: Api
    fake: FakeModelServer
    alice: str
    bob: str

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)


def ids(messages: list[dict[str, Any]]) -> list[int]:
    return [int(message["id"]) for message in messages]


class TreeMachine(RuleBasedStateMachine):
    world: ClassVar[World]
    contents: ClassVar[itertools.count[int]] = itertools.count()

    def __init__(self) -> None:
        super().__init__()
        self.tree = self.start()

    # Talking to the server

    def ok(self, query: str, variables: dict[str, Any], token: str | None = None) -> Any:
        return self.world.run(self.world.api.ok(query, variables, token=token or self.alice))

    def fails(self, query: str, variables: dict[str, Any], token: str | None = None) -> str:
        body = self.world.run(self.world.api.post(query, variables, token=token or self.alice))
        assert body.get("errors"), f"expected an error, got {body}"
        return str(GraphQLFailure(body["errors"]).code)

    @property
    def alice(self) -> str:
        return self.world.alice

    def fresh(self) -> str:
        """A prompt no other step uses, so the fake model's answer to it is this step's."""
        return f"prompt {next(self.contents)}"

    def expect(self, content: str, outcome: str) -> tuple[str, str, bool]:
        """Makes the fake model answer `content` with `outcome`: (status, text, error?)."""
        replies = self.world.fake.replies
        if outcome == "http_error":
            replies[content] = Reply(status=500)
            return "FAILED", "", True
        if outcome == "cut_stream":
            replies[content] = Reply(content="partial reply", chunk_size=4, cut_after=2)
            return "FAILED", "partial ", True
        replies.pop(content, None)
        return "COMPLETE", f"Echo: {content}", False

    def start(self) -> TreeModel:
        content = self.fresh()
        data = self.ok(CREATE, {"c": content, "s": SYSTEM_PROMPT})["createConversation"]
        conversation = data["conversation"]
        tree = TreeModel(int(conversation["id"]))
        root, user = int(conversation["root"]["id"]), int(data["userMessage"]["id"])
        reply = data["assistantMessage"]
        tree.add(Node(root, None, "SYSTEM", SYSTEM_PROMPT))
        tree.add(Node(user, root, "USER", content))
        tree.add(Node(int(reply["id"]), user, "ASSISTANT", f"Echo: {content}"))
        tree.current = int(reply["id"])
        return tree

    def prompt_under(self, parent: int, outcome: str) -> None:
        content = self.fresh()
        status, text, failed = self.expect(content, outcome)
        variables = {"parent": str(parent), "c": content, "wait": True}
        data = self.ok(PROMPT, variables)["prompt"]
        user, reply = int(data["userMessage"]["id"]), data["assistantMessage"]
        assert (reply["status"], reply["content"]) == (status, text)
        self.tree.add(Node(user, parent, "USER", content))
        self.tree.add(Node(int(reply["id"]), user, "ASSISTANT", text, status, failed))
        self.tree.current = int(reply["id"])

    # The steps

    @rule(pick=st.integers(min_value=0), outcome=st.sampled_from(OUTCOMES))
    def prompt(self, pick: int, outcome: str) -> None:
        parents = self.tree.parents_for_prompt()
        self.prompt_under(parents[pick % len(parents)], outcome)

    @rule(pick=st.integers(min_value=0), outcome=st.sampled_from(OUTCOMES))
    def edit(self, pick: int, outcome: str) -> None:
        """A prompt under a parent that already has an answer: a new branch beside it."""
        parents = [p for p in self.tree.parents_for_prompt() if self.tree.children(p)]
        self.prompt_under(parents[pick % len(parents)], outcome)

    @rule(pick=st.integers(min_value=0), outcome=st.sampled_from(OUTCOMES))
    def regenerate(self, pick: int, outcome: str) -> None:
        targets = self.tree.ids("USER", "ASSISTANT")
        target = targets[pick % len(targets)]
        node = self.tree.nodes[target]
        prompt = target if node.role == "USER" else node.parent
        assert prompt is not None
        status, text, failed = self.expect(self.tree.nodes[prompt].content, outcome)
        reply = self.ok(REGENERATE, {"id": str(target)})["regenerate"]
        assert (reply["status"], reply["content"]) == (status, text)
        self.tree.add(Node(int(reply["id"]), prompt, "ASSISTANT", text, status, failed))
        self.tree.current = int(reply["id"])

    @rule(pick=st.integers(min_value=0))
    def select_branch(self, pick: int) -> None:
        targets = self.tree.ids()
        target = targets[pick % len(targets)]
        data = self.ok(SELECT, {"id": str(target)})["selectBranch"]
        self.tree.current = self.tree.newest_below(target)
        assert int(data["currentMessageId"]) == self.tree.current

    @rule(pick=st.integers(min_value=0), passed=st.integers(min_value=0, max_value=3))
    def cancel(self, pick: int, passed: int) -> None:
        """A reply held after `passed` chunks is cancelled: it keeps exactly those."""
        parents = self.tree.parents_for_prompt()
        parent = parents[pick % len(parents)]
        content = self.fresh()
        self.world.fake.replies[content] = Reply(content=HELD_TEXT, chunk_size=3, gate=Gate(passed))
        variables = {"parent": str(parent), "c": content, "wait": False}
        data = self.ok(PROMPT, variables)["prompt"]
        user, reply = int(data["userMessage"]["id"]), int(data["assistantMessage"]["id"])
        assert data["assistantMessage"]["status"] == "STREAMING"
        self.tree.add(Node(user, parent, "USER", content))
        held = Node(reply, user, "ASSISTANT", "", "STREAMING")
        self.tree.add(held)
        self.tree.current = reply
        text = HELD_TEXT[: 3 * passed]
        self.world.run(until(lambda: published(self.world.api, str(reply)) == len(text)))
        # A STREAMING reply cannot be prompted under yet.
        stuck = {"parent": str(reply), "c": "too early", "wait": True}
        assert self.fails(PROMPT, stuck) == "BAD_USER_INPUT"
        cancelled = self.ok(CANCEL, {"id": str(reply)})["cancelGeneration"]
        assert cancelled == {"status": "CANCELLED", "content": text, "error": None}
        held.status, held.content = "CANCELLED", text

    @rule()
    def delete_conversation(self) -> None:
        last = max(self.tree.nodes)
        assert self.ok(DELETE, {"id": str(self.tree.conversation)})["deleteConversation"]
        gone = self.ok(
            "query($c: ID!, $m: ID!) { conversation(id: $c) { id } message(id: $m) { id } }",
            {"c": str(self.tree.conversation), "m": str(last)},
        )
        assert gone == {"conversation": None, "message": None}
        self.tree = self.start()

    @rule(pick=st.integers(min_value=0))
    def bad_input_changes_nothing(self, pick: int) -> None:
        users = self.tree.ids("USER")
        under_user = {"parent": str(users[pick % len(users)]), "c": "no", "wait": True}
        assert self.fails(PROMPT, under_user) == "BAD_USER_INPUT"
        assert self.fails(REGENERATE, {"id": str(self.tree.root)}) == "BAD_USER_INPUT"
        final = str(self.tree.ids("ASSISTANT")[0])
        assert self.fails(CANCEL, {"id": final}) == "BAD_USER_INPUT"
        empty = {"parent": str(self.tree.root), "c": "", "wait": True}
        assert self.fails(PROMPT, empty) == "BAD_USER_INPUT"

    @rule(pick=st.integers(min_value=0))
    def another_users_ids_are_not_found(self, pick: int) -> None:
        targets = self.tree.ids()
        target = str(targets[pick % len(targets)])
        bob = self.world.bob
        for query, variables in (
            (SELECT, {"id": target}),
            (PROMPT, {"parent": target, "c": "mine now", "wait": True}),
            (REGENERATE, {"id": target}),
            (CANCEL, {"id": target}),
            (DELETE, {"id": str(self.tree.conversation)}),
        ):
            assert self.fails(query, variables, token=bob) == "NOT_FOUND"
        seen = self.ok(
            "query($c: ID!, $m: ID!) { conversation(id: $c) { id } message(id: $m) { id } }",
            {"c": str(self.tree.conversation), "m": target},
            token=bob,
        )
        assert seen == {"conversation": None, "message": None}

    # After every step

    @invariant()
    def the_api_matches_the_model(self) -> None:
        tree, variables = self.tree, {"id": str(self.tree.conversation)}
        every = tree.ids()
        batches = [every[i : i + THROUGH_BATCH] for i in range(0, len(every), THROUGH_BATCH)]
        data = self.ok(STATE % aliases(batches[0]), variables)
        conversation = data["conversation"]
        assert conversation["messageCount"] == len(tree.nodes)
        assert int(conversation["currentMessageId"]) == tree.current
        assert int(conversation["root"]["id"]) == tree.root
        assert ids(conversation["branch"]) == tree.branch()
        assert ids(conversation["currentBranch"]) == tree.path(tree.current)
        assert ids(conversation["messages"]) == every
        for message in conversation["messages"]:
            self.compare(message)
        self.compare_through(data, batches[0])
        for batch in batches[1:]:
            self.compare_through(self.ok(MORE % aliases(batch), variables), batch)

    def compare(self, message: dict[str, Any]) -> None:
        tree = self.tree
        node = tree.nodes[int(message["id"])]
        expected = {
            "parentId": None if node.parent is None else str(node.parent),
            "role": node.role,
            "content": node.content,
            "status": node.status,
            "error": node.failed,
            "depth": tree.depth(node.id),
            "childCount": len(tree.children(node.id)),
            "siblingIndex": tree.sibling_index(node.id),
            "siblingCount": tree.sibling_count(node.id),
            "children": tree.children(node.id),
            "path": tree.path(node.id),
            "descendants": tree.descendants(node.id),
            "below": tree.descendants(node.id, max_depth=1),
        }
        actual = {key: message[key] for key in expected}
        actual["error"] = message["error"] is not None
        for key in ("children", "path", "descendants", "below"):
            actual[key] = ids(message[key])
        assert actual == expected, f"message {node.id}"

    def compare_through(self, data: dict[str, Any], batch: list[int]) -> None:
        for i in batch:
            assert ids(data["conversation"][f"t{i}"]) == self.tree.branch(i), f"through {i}"
            assert ids(data[f"c{i}"]) == self.tree.children(i), f"children of {i}"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    # Hypothesis runs many examples a minute for one user: past the per-minute limit a
    # person meets, which would make a step's outcome depend on the clock.
    return {**server_env, "PROMPTS_PER_MINUTE": "100000"}


@pytest.mark.timeout(300)  # room for hypothesis to shrink a failure; a pass takes far less
async def test_the_tree_always_matches_a_model_of_it(
    api: Api, alice: str, bob: str, fake_model: FakeModelServer
) -> None:
    world = World(asyncio.get_running_loop(), api, fake_model, alice, bob)
    machine = type("TreeMachineOnThisServer", (TreeMachine,), {"world": world})
    await asyncio.to_thread(run_state_machine_as_test, machine, settings=BUDGET)

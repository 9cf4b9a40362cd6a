"""An in-memory model of one conversation's tree: what the API must answer, computed
the plain way (no SQL), for the stateful test to compare against."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    id: int
    parent: int | None
    role: str
    content: str
    status: str = "COMPLETE"
    failed: bool = False  # `error` is set


@dataclass
class TreeModel:
    conversation: int
    nodes: dict[int, Node] = field(default_factory=dict)
    current: int = 0

    def add(self, node: Node) -> None:
        assert node.id not in self.nodes and all(node.id > known for known in self.nodes)
        self.nodes[node.id] = node

    @property
    def root(self) -> int:
        return min(self.nodes)

    def ids(self, *roles: str) -> list[int]:
        return [i for i, node in sorted(self.nodes.items()) if not roles or node.role in roles]

    def parents_for_prompt(self) -> list[int]:
        """The messages a prompt may go under: system or assistant, not STREAMING."""
        return [i for i in self.ids("SYSTEM", "ASSISTANT") if self.nodes[i].status != "STREAMING"]

    def children(self, message_id: int) -> list[int]:
        return [i for i in self.ids() if self.nodes[i].parent == message_id]

    def path(self, message_id: int) -> list[int]:
        path = [message_id]
        while (parent := self.nodes[path[0]].parent) is not None:
            path.insert(0, parent)
        return path

    def depth(self, message_id: int) -> int:
        return len(self.path(message_id)) - 1

    def descendants(self, message_id: int, max_depth: int | None = None) -> list[int]:
        """Shallowest first, then oldest first."""
        found: list[int] = []
        level, frontier = 0, [message_id]
        while frontier and (max_depth is None or level < max_depth):
            frontier = [child for parent in frontier for child in self.children(parent)]
            found += frontier
            level += 1
        return sorted(found, key=lambda i: (self.depth(i), i))

    def newest_below(self, message_id: int) -> int:
        return max([message_id, *self.descendants(message_id)])

    def branch(self, through: int | None = None) -> list[int]:
        return self.path(self.newest_below(self.root if through is None else through))

    def sibling_index(self, message_id: int) -> int:
        parent = self.nodes[message_id].parent
        return 1 if parent is None else 1 + self.children(parent).index(message_id)

    def sibling_count(self, message_id: int) -> int:
        parent = self.nodes[message_id].parent
        return 1 if parent is None else len(self.children(parent))

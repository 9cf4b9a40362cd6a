"""The tree queries, one home for all of them: walks up (paths, pages, context windows),
walks down (newest message below, descendants), ownership, and the batched reads of
DataLoaders. Each is one statement, the same on SQLite and PostgreSQL unless its module
says why not, and none reads more of the tree than it returns."""

from chattree.db.tree.batches import (
    Newest,
    child_counts,
    children_of_each,
    message_counts,
    messages_of,
    newest_of,
    roots_of,
)
from chattree.db.tree.owners import (
    Turn,
    owned_by,
    owned_conversations,
    owned_message,
    owned_messages,
    owned_turn,
    owned_with_newest,
)
from chattree.db.tree.paths import context_window, path, path_statement, paths_of
from chattree.db.tree.records import MessageRecord
from chattree.db.tree.subtrees import (
    branch_through,
    descendants_of,
    newest_below_each,
    newest_id_below,
)

__all__ = [
    "MessageRecord",
    "Newest",
    "Turn",
    "branch_through",
    "child_counts",
    "children_of_each",
    "context_window",
    "descendants_of",
    "message_counts",
    "messages_of",
    "newest_below_each",
    "newest_id_below",
    "newest_of",
    "owned_by",
    "owned_conversations",
    "owned_message",
    "owned_messages",
    "owned_turn",
    "owned_with_newest",
    "path",
    "path_statement",
    "paths_of",
    "roots_of",
]

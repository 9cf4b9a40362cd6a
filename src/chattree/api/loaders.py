"""Per-operation DataLoaders: every fan-out field of a request is one statement per level
of the selection, whatever the number of messages. The SQL lives in `db.tree`; this
module wires keys to its batch functions, and in a query lets a loader answer from rows
another one read (a parent, a child count, a conversation's newest message). Each
batch uses a short session of its own, because sibling fields resolve concurrently.

Each level reads in a statement of its own, so a conversation deleted between two levels
is simply missing from the later ones: loaders answer None for it, never raise."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from operator import attrgetter
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from chattree.db import shares, tree
from chattree.db.engine import Database
from chattree.db.models import Conversation, Share
from chattree.db.tree import MessageRecord
from chattree.db.types import utcnow

id_of = attrgetter("id")
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
R = TypeVar("R")
Batch = Callable[[AsyncSession, Sequence[K]], Awaitable[Mapping[K, V]]]


class Loaders:
    def __init__(self, db: Database, *, user_id: int, sharing: bool = True) -> None:
        """`sharing`: loaders answer from what other loaders read (see `_known_lists`).
        Off in mutations, where a later field must see what an earlier one wrote."""
        self.db = db
        self.user_id = user_id
        self.sharing = sharing
        self.conversation = self._optional(self._conversations)
        self.message = self._optional(self._messages)
        self.children = self._listing(self._known_lists(tree.children_of_each))
        self.child_count = self._counting(self._child_counts)
        self.root = self._optional(self._known_ones(tree.roots_of))
        self.message_count = self._counting(tree.message_counts)
        self.messages = self._listing(self._known_lists(tree.messages_of))
        self.newest_below = self._optional(tree.newest_below_each)
        self.newest_in_conversation = self._optional(tree.newest_of)
        self.shares = self._listing(self._shares)
        self._read: dict[int, MessageRecord] = {}  # every message read so far, by id
        self._paths: dict[int | None, DataLoader[int, list[MessageRecord] | None]] = {}
        self._descendants: dict[int | None, DataLoader[int, list[MessageRecord]]] = {}

    def path(self, last: int | None = None) -> DataLoader[int, list[MessageRecord] | None]:
        """Root to each message, or its last `last` messages; None for a missing one."""
        if last not in self._paths:

            async def load(
                session: AsyncSession, ends: Sequence[int]
            ) -> dict[int, list[MessageRecord]]:
                # A path holds at least the message itself: an empty one means it is gone.
                found = await tree.paths_of(session, ends, last=last)
                return {end: rows for end, rows in found.items() if rows}

            self._paths[last] = self._optional(self._known_lists(load))
        return self._paths[last]

    def descendants(self, max_depth: int | None) -> DataLoader[int, list[MessageRecord]]:
        if max_depth not in self._descendants:

            async def load(
                session: AsyncSession, ids: Sequence[int]
            ) -> dict[int, list[MessageRecord]]:
                return await tree.descendants_of(session, ids, max_depth)

            self._descendants[max_depth] = self._listing(self._known_lists(load))
        return self._descendants[max_depth]

    async def _conversations(
        self, session: AsyncSession, ids: Sequence[int]
    ) -> dict[int, Conversation]:
        if not self.sharing:
            return await tree.owned_conversations(session, ids, user_id=self.user_id)
        found, newest = await tree.owned_with_newest(session, ids, user_id=self.user_id)
        self.newest_in_conversation.prime_many(newest)
        return found

    async def _messages(
        self, session: AsyncSession, ids: Sequence[int]
    ) -> dict[int, MessageRecord]:
        found = {i: self._read[i] for i in ids if i in self._read}
        unread = [i for i in ids if i not in found]
        if unread:
            found |= await tree.owned_messages(session, unread, user_id=self.user_id)
        return found

    async def _child_counts(self, session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
        """Counted from the children this request reads anyway, where it reads them: a
        client that shows `children` shows `childCount` beside them."""
        counts: dict[int, int] = {}
        for i in ids:
            listed = self.children.cache_map.get(i) if self.sharing else None
            if listed is None:
                continue
            # Waits without awaiting the future itself, which other fields share: a
            # cancelled or failed read of children is counted by the database instead.
            await asyncio.wait([listed])
            if not listed.cancelled() and listed.exception() is None:
                counts[i] = len(listed.result())
        uncounted = [i for i in ids if i not in counts]
        if uncounted:
            counts |= await tree.child_counts(session, uncounted)
        return counts

    async def _shares(self, session: AsyncSession, ids: Sequence[int]) -> dict[int, list[Share]]:
        return await shares.live_of(session, ids, user_id=self.user_id, now=utcnow())

    # Every message a batch reads is one the caller may see (its keys were checked), so
    # it is kept, and `message` answers from what was read before it asks the
    # database: the `parent` of a message of a branch, a path or a list of children is
    # found without a statement.

    def _known_lists(self, batch: Batch[K, list[MessageRecord]]) -> Batch[K, list[MessageRecord]]:
        if not self.sharing:
            return batch

        async def load(session: AsyncSession, keys: Sequence[K]) -> Mapping[K, list[MessageRecord]]:
            found = await batch(session, keys)
            for rows in found.values():
                self._read.update(zip(map(id_of, rows), rows, strict=True))
            return found

        return load

    def _known_ones(self, batch: Batch[K, MessageRecord]) -> Batch[K, MessageRecord]:
        if not self.sharing:
            return batch

        async def load(session: AsyncSession, keys: Sequence[K]) -> Mapping[K, MessageRecord]:
            found = await batch(session, keys)
            self._read.update((row.id, row) for row in found.values())
            return found

        return load

    # A batch answers with a mapping; keys it leaves out are missing (None), have no
    # rows (an empty list) or count zero.

    def _optional(self, batch: Batch[K, V]) -> DataLoader[K, V | None]:
        return self._loader(batch, lambda found, key: found.get(key))

    def _listing(self, batch: Batch[K, list[V]]) -> DataLoader[K, list[V]]:
        return self._loader(batch, lambda found, key: found.get(key, []))

    def _counting(self, batch: Batch[K, int]) -> DataLoader[K, int]:
        return self._loader(batch, lambda found, key: found.get(key, 0))

    def _loader(
        self, batch: Batch[K, V], pick: Callable[[Mapping[K, V], K], R]
    ) -> DataLoader[K, R]:
        async def load(keys: list[K]) -> list[R]:
            async with self.db.reader() as session:
                found = await batch(session, keys)
            return [pick(found, key) for key in keys]

        return DataLoader(load_fn=load)

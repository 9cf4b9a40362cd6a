"""Per-operation DataLoaders: every fan-out field of a request is one statement per level
of the selection, whatever the number of messages. Each batch uses a short session of
its own, because sibling fields resolve concurrently.

Each level reads in a statement of its own, so a conversation deleted between two levels
is simply missing from the later ones: loaders answer None for it, never raise."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from chattree.db import shares, tree
from chattree.db.engine import Database
from chattree.db.models import Conversation, Message, Share
from chattree.db.types import utcnow

K = TypeVar("K")
V = TypeVar("V")


class Loaders:
    def __init__(self, db: Database, *, user_id: int) -> None:
        self.db = db
        self.user_id = user_id
        self.conversation = self._loader(self._conversations)
        self.message = self._loader(self._messages)
        self.children = self._loader(self._children)
        self.child_count = self._loader(self._child_counts)
        self.root = self._loader(self._roots)
        self.message_count = self._loader(self._message_counts)
        self.messages = self._loader(self._conversation_messages)
        self.path = self._loader(self._paths)
        self.newest_below = self._loader(self._newest_below)
        self.newest_in_conversation = self._loader(self._newest_in_conversations)
        self.shares = self._loader(self._shares)
        self._descendants: dict[int | None, DataLoader[int, list[Message]]] = {}

    def descendants(self, max_depth: int | None) -> DataLoader[int, list[Message]]:
        if max_depth not in self._descendants:

            async def load(session: AsyncSession, ids: Sequence[int]) -> list[list[Message]]:
                found = await tree.descendants_of(session, ids, max_depth)
                return [found[i] for i in ids]

            self._descendants[max_depth] = self._loader(load)
        return self._descendants[max_depth]

    def _loader(
        self, batch: Callable[[AsyncSession, Sequence[K]], Awaitable[list[V]]]
    ) -> DataLoader[K, V]:
        async def load(keys: list[K]) -> list[V]:
            async with self.db.reader() as session:
                return await batch(session, keys)

        return DataLoader(load_fn=load)

    async def _conversations(
        self, session: AsyncSession, ids: Sequence[int]
    ) -> list[Conversation | None]:
        rows = await session.scalars(
            select(Conversation).where(
                Conversation.id.in_(ids), Conversation.user_id == self.user_id
            )
        )
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _messages(self, session: AsyncSession, ids: Sequence[int]) -> list[Message | None]:
        rows = await session.scalars(
            select(Message).where(Message.id.in_(ids), tree.owned_by(self.user_id))
        )
        found = {row.id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _children(self, session: AsyncSession, ids: Sequence[int]) -> list[list[Message]]:
        rows = await session.scalars(
            select(Message).where(Message.parent_id.in_(ids)).order_by(Message.id)
        )
        found: dict[int, list[Message]] = {i: [] for i in ids}
        for row in rows:
            assert row.parent_id is not None
            found[row.parent_id].append(row)
        return [found[i] for i in ids]

    async def _child_counts(self, session: AsyncSession, ids: Sequence[int]) -> list[int]:
        rows = await session.execute(
            select(Message.parent_id, func.count())
            .where(Message.parent_id.in_(ids))
            .group_by(Message.parent_id)
        )
        found = {parent: count for parent, count in rows}
        return [found.get(i, 0) for i in ids]

    async def _roots(self, session: AsyncSession, ids: Sequence[int]) -> list[Message | None]:
        rows = await session.scalars(
            select(Message).where(Message.conversation_id.in_(ids), Message.parent_id.is_(None))
        )
        found = {row.conversation_id: row for row in rows}
        return [found.get(i) for i in ids]

    async def _message_counts(self, session: AsyncSession, ids: Sequence[int]) -> list[int]:
        rows = await session.execute(
            select(Message.conversation_id, func.count())
            .where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)
        )
        found = {conversation: count for conversation, count in rows}
        return [found.get(i, 0) for i in ids]

    async def _conversation_messages(
        self, session: AsyncSession, ids: Sequence[int]
    ) -> list[list[Message]]:
        rows = await session.scalars(
            select(Message).where(Message.conversation_id.in_(ids)).order_by(Message.id)
        )
        found: dict[int, list[Message]] = {i: [] for i in ids}
        for row in rows:
            found[row.conversation_id].append(row)
        return [found[i] for i in ids]

    async def _paths(self, session: AsyncSession, ids: Sequence[int]) -> list[list[Message] | None]:
        found = await tree.paths_of(session, ids)
        # A path holds at least the message itself: an empty one means it is gone.
        return [found.get(i) or None for i in ids]

    async def _newest_below(self, session: AsyncSession, ids: Sequence[int]) -> list[int | None]:
        found = await tree.newest_below_each(session, ids)
        return [found.get(i) for i in ids]

    async def _newest_in_conversations(
        self, session: AsyncSession, ids: Sequence[int]
    ) -> list[int | None]:
        rows = await session.execute(
            select(Message.conversation_id, func.max(Message.id))
            .where(Message.conversation_id.in_(ids))
            .group_by(Message.conversation_id)
        )
        found = {conversation: newest for conversation, newest in rows}
        return [found.get(i) for i in ids]

    async def _shares(self, session: AsyncSession, ids: Sequence[int]) -> list[list[Share]]:
        found = await shares.live_of(session, ids, user_id=self.user_id, now=utcnow())
        return [found[i] for i in ids]

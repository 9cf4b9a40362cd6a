"""Loaders: what one loader takes from another's reads, and what it does when that read
was cancelled or failed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import pytest

from chattree.api.loaders import Loaders
from chattree.db import tree


class NoDatabase:
    """A database whose sessions are never used by what these tests load."""

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[object]:
        yield object()


async def test_child_counts_of_children_read_that_were_cancelled_or_failed_are_counted_anew(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[list[int]] = []

    async def counted(_session: Any, ids: Sequence[int]) -> dict[int, int]:
        asked.append(list(ids))
        return {i: 10 + i for i in ids}

    monkeypatch.setattr(tree, "child_counts", counted)
    loaders = Loaders(NoDatabase(), user_id=1)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    read, cancelled, failed = loop.create_future(), loop.create_future(), loop.create_future()
    read.set_result(["a", "b"])
    cancelled.cancel()
    failed.set_exception(RuntimeError("the read of children failed"))
    for key, future in ((1, read), (2, cancelled), (3, failed)):
        loaders.children.cache_map.set(key, future)

    counts = await asyncio.gather(*(loaders.child_count.load(key) for key in (1, 2, 3, 4)))

    assert counts == [2, 12, 13, 14]
    assert asked == [[2, 3, 4]]


async def test_a_mutation_s_loaders_take_nothing_from_each_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def counted(_session: Any, ids: Sequence[int]) -> dict[int, int]:
        return {i: 7 for i in ids}

    monkeypatch.setattr(tree, "child_counts", counted)
    loaders = Loaders(NoDatabase(), user_id=1, sharing=False)  # type: ignore[arg-type]
    read = asyncio.get_running_loop().create_future()
    read.set_result(["a", "b"])
    loaders.children.cache_map.set(1, read)

    assert await loaders.child_count.load(1) == 7

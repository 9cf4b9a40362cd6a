"""A serving process freezes what start-up made out of the cycle collector's passes,
and runs young collections less often (src/chattree/collector.py)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from chattree.cli import server
from chattree.collector import YOUNG_THRESHOLD, tune_for_serving
from chattree.settings import Settings


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


@pytest.fixture
def collector() -> Iterator[None]:
    """The process's collector as it was, afterwards."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def tracked(obj: object) -> bool:
    """Whether a collection would walk `obj` (frozen objects are in no generation)."""
    return any(candidate is obj for candidate in gc.get_objects())


def test_what_lives_is_frozen_and_garbage_is_not(collector: None) -> None:
    alive = [Node()]
    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    gone = weakref.ref(a)
    del a, b
    assert tracked(alive)

    tune_for_serving()

    assert gone() is None
    assert not tracked(alive)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == YOUNG_THRESHOLD


def test_serving_tunes_the_collector_before_uvicorn_starts(
    collector: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[int, int]] = []

    def started(_: server.Server) -> None:
        seen.append((gc.get_threshold()[0], gc.get_freeze_count()))

    monkeypatch.setattr(server.Server, "run", started)
    settings = Settings(db_url=f"sqlite+aiosqlite:///{tmp_path / 'served.db'}")

    server.run(settings, companions=[])

    [(young, frozen)] = seen
    assert young == YOUNG_THRESHOLD
    assert frozen > 0

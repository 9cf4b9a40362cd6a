"""The demo model's memory of earlier requests, from which it tells edits and siblings."""

from __future__ import annotations

from chattree.demo.answer import Memory

SYSTEM = {"role": "system", "content": "Be brief."}


def ask(memory: Memory, text: str) -> tuple[int, int, int]:
    position = memory.place([SYSTEM, {"role": "user", "content": text}])
    return position.version, position.versions, position.answer


def test_the_memory_counts_versions_and_answers() -> None:
    memory = Memory()
    assert ask(memory, "a") == (1, 1, 1)
    assert ask(memory, "a") == (1, 1, 2)
    assert ask(memory, "b") == (2, 2, 1)
    assert ask(memory, "a") == (1, 2, 3)


def test_the_memory_forgets_the_oldest_requests_past_its_limit() -> None:
    memory = Memory(limit=2)
    ask(memory, "a")
    for other in ("x", "y"):
        memory.place([{"role": "system", "content": other}, {"role": "user", "content": "q"}])
    # The history of "a" was forgotten: it is new again.
    assert ask(memory, "a") == (1, 1, 1)

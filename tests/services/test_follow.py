"""follow(): what a subscriber is sent when it must catch up from a snapshot.

These drive the real `follow` with a broker and a row under the test's control, to
reach orders of events that a live server produces only rarely.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from chattree.broker import Event, MemoryBroker, Notice, NoticeKind
from chattree.db.models import Status
from chattree.services.generation.follow import follow

# The package re-exports the function under the module's name.
follow_module = importlib.import_module("chattree.services.generation.follow")


@dataclass
class Row:
    content: str
    seq: int
    status: Status = Status.STREAMING
    reasoning: str = ""
    error: str | None = None


class OtherProcessBroker(MemoryBroker):
    spans_processes = True  # the reply is generated elsewhere: snapshots come from the row


@dataclass
class Manager:
    """The parts of GenerationManager that follow() uses."""

    row: Row
    broker: OtherProcessBroker = field(default_factory=lambda: OtherProcessBroker(queue_size=4))
    followers: int = 0
    flushed_answers: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.broker.on_request = self.answer
        self.db = self

    def local_snapshot(self, message_id: int) -> None:
        return None

    def answer(self, notice: Notice) -> None:
        if notice.kind is NoticeKind.FLUSH:
            self.flushed_answers.append(self.row.seq)
            # Answers with the row as it is, which may lag behind what was published.
            self.broker.dispatch(Notice(NoticeKind.FLUSHED, notice.message_id, self.row.seq))

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[Manager]:
        yield self

    async def get(self, _model: object, _id: int) -> Row:
        return self.row


@pytest.fixture(autouse=True)
def quick_flush_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(follow_module, "FLUSH_TIMEOUT", 0.2)
    monkeypatch.setattr(follow_module, "IDLE_CHECK", 0.3)


async def test_a_snapshot_older_than_what_was_sent_sends_nothing_twice() -> None:
    manager = Manager(Row("ab", 2))
    stream = follow(manager, 1)  # type: ignore[arg-type]
    sent = [(await anext(stream)).delta]
    for seq, text in [(3, "c"), (4, "d"), (5, "e")]:
        manager.broker.dispatch(Event(1, seq, text))
        sent.append((await anext(stream)).delta)
    # The subscriber falls behind: its queue of 4 overflows and it must resync, but the
    # row it resyncs from still says seq 2.
    for seq, text in [(6, "f"), (7, "g"), (8, "h"), (9, "i"), (10, "j")]:
        manager.broker.dispatch(Event(1, seq, text))
    manager.row = Row("abcdefghijk", 11)
    manager.broker.dispatch(Event(1, 12, "l"))
    manager.broker.dispatch(Event(1, 13, "m", status="COMPLETE", done=True))
    async for event in stream:
        sent.append(event.delta)
    assert "".join(sent) == "abcdefghijklm"


async def test_a_subscriber_whose_final_event_was_lost_ends_from_the_row() -> None:
    manager = Manager(Row("ab", 2))
    stream = follow(manager, 1)  # type: ignore[arg-type]
    assert (await anext(stream)).delta == "ab"
    manager.broker.dispatch(Event(1, 3, "c"))
    assert (await anext(stream)).delta == "c"
    # The reply ends, but its final event never arrives (a broker dropped it).
    manager.row = Row("abcde", 5, Status.COMPLETE)
    last = await anext(stream)
    assert (last.delta, last.done, last.status) == ("de", True, "COMPLETE")
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_a_quiet_reply_is_checked_from_the_row_without_asking_for_flushes() -> None:
    manager = Manager(Row("ab", 2))
    stream = follow(manager, 1)  # type: ignore[arg-type]
    assert (await anext(stream)).delta == "ab"
    assert len(manager.flushed_answers) == 1  # the snapshot of a late joiner
    # Several idle checks pass while the reply is silent; none asks for a flush.
    await asyncio.sleep(4 * follow_module.IDLE_CHECK)
    assert len(manager.flushed_answers) == 1
    manager.broker.dispatch(Event(1, 3, "c", status="COMPLETE", done=True))
    assert [event.delta async for event in stream] == ["c"]


async def test_a_subscriber_behind_gets_what_queued_meanwhile_as_one_event() -> None:
    manager = Manager(Row("ab", 2))
    stream = follow(manager, 1)  # type: ignore[arg-type]
    assert (await anext(stream)).delta == "ab"
    for seq, text in [(3, "c"), (4, "d"), (5, "e")]:
        manager.broker.dispatch(Event(1, seq, text, reasoning_delta=text.upper()))
    event = await anext(stream)
    assert (event.seq, event.delta, event.reasoning_delta) == (5, "cde", "CDE")
    # The final event is folded in too, and then the stream ends.
    manager.broker.dispatch(Event(1, 6, "f"))
    manager.broker.dispatch(Event(1, 7, status="COMPLETE", done=True))
    last = await anext(stream)
    assert (last.seq, last.delta, last.status, last.done) == (7, "f", "COMPLETE", True)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)


async def test_folding_stops_at_an_item_that_does_not_follow_on() -> None:
    manager = Manager(Row("ab", 2))
    stream = follow(manager, 1)  # type: ignore[arg-type]
    assert (await anext(stream)).delta == "ab"
    manager.broker.dispatch(Event(1, 3, "c"))
    manager.broker.dispatch(Event(1, 5, "e"))  # 4 went missing: the row must say what it was
    manager.row = Row("abcde", 5, Status.COMPLETE)
    assert (await anext(stream)).delta == "c"
    last = await anext(stream)
    assert (last.delta, last.done) == ("de", True)

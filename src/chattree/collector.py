"""How a serving process runs Python's cycle collector.

A full collection walks every object the collector tracks, and a server holding a
thousand websocket connections has about half a million of them: on a 2-core machine
each full pass took 0.3-0.5 s, a pause that every subscriber's next token waited out
(docs/performance.md, finding 13). The server's objects die by reference counting
almost without exception; the collector is there for the rare cycle, so it can run
much less often:
- what exists before serving starts (the modules, the schema, the app) lives as long
  as the process, and is frozen out of every collection;
- a young collection waits for 10,000 new objects instead of 700, so the objects of a
  request or an event are usually freed before one runs, and far fewer of them survive
  into the old generation, whose growth is what starts a full collection.
"""

from __future__ import annotations

import gc
from typing import Final

YOUNG_THRESHOLD: Final = 10_000


def tune_for_serving() -> None:
    """Call once, after the app is built and before it serves."""
    gc.collect()  # what is garbage now must not be frozen with the rest
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)

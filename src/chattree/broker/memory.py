"""The broker of a single process: items go straight to local subscribers."""

from __future__ import annotations

from chattree.broker.base import Broker, Item


class MemoryBroker(Broker):
    spans_processes = False

    def publish(self, item: Item) -> None:
        self.dispatch(item)

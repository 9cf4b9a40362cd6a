"""Pub/sub of generation events: in-process, or PostgreSQL LISTEN/NOTIFY across processes."""

from chattree.broker.base import (
    RESYNC,
    Broker,
    Event,
    Item,
    Notice,
    NoticeKind,
    Resync,
    Subscription,
)
from chattree.broker.changes import Change, Feed
from chattree.broker.memory import MemoryBroker
from chattree.broker.postgres import PostgresBroker

__all__ = [
    "RESYNC",
    "Broker",
    "Change",
    "Event",
    "Feed",
    "Item",
    "MemoryBroker",
    "Notice",
    "NoticeKind",
    "PostgresBroker",
    "Resync",
    "Subscription",
]

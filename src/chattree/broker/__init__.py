"""Pub/sub of generation events: in-process, or PostgreSQL LISTEN/NOTIFY across processes."""

from chattree.broker.base import (
    RESYNC,
    SILENCE,
    Broker,
    Event,
    Item,
    Notice,
    NoticeKind,
    Queued,
    Resync,
    Silence,
    Subscription,
)
from chattree.broker.changes import Change, Feed
from chattree.broker.memory import MemoryBroker
from chattree.broker.postgres import PostgresBroker

__all__ = [
    "RESYNC",
    "SILENCE",
    "Broker",
    "Change",
    "Event",
    "Feed",
    "Item",
    "MemoryBroker",
    "Notice",
    "NoticeKind",
    "PostgresBroker",
    "Queued",
    "Resync",
    "Silence",
    "Subscription",
]

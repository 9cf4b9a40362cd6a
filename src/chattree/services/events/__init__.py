"""Conversation events: following them live, and pruning them by age."""

from chattree.services.events.cursors import decode_event_cursor, encode_event_cursor
from chattree.services.events.follow import EVENT_BATCH, follow_events, publisher
from chattree.services.events.pruner import EventPruner

__all__ = [
    "EVENT_BATCH",
    "EventPruner",
    "decode_event_cursor",
    "encode_event_cursor",
    "follow_events",
    "publisher",
]

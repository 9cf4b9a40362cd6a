"""Generating replies: background tasks, live events, cancel, flush and sweep."""

from chattree.services.generation.follow import follow
from chattree.services.generation.manager import GenerationManager
from chattree.services.generation.reply import Snapshot

__all__ = ["GenerationManager", "Snapshot", "follow"]

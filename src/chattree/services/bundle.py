"""The services of one running server, built by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from chattree.broker import Broker
from chattree.db.engine import Database
from chattree.llm import ModelClient
from chattree.metrics import Metrics
from chattree.services.accounts import Accounts
from chattree.services.conversations import Branches, Conversations, ModelControls
from chattree.services.generation import GenerationManager
from chattree.services.portability import Exporter, Importer
from chattree.services.search import Search
from chattree.services.shares import Shares
from chattree.settings import Settings


@dataclass(frozen=True, slots=True)
class Services:
    settings: Settings
    db: Database
    client: ModelClient
    broker: Broker
    accounts: Accounts
    generations: GenerationManager
    conversations: Conversations
    controls: ModelControls
    branches: Branches
    shares: Shares
    importer: Importer
    exporter: Exporter
    search: Search
    metrics: Metrics

"""What a running process counts for Prometheus, in a registry of its own.

Each app builds one `Metrics` (never at import), so two apps in one process, as in the
tests, never share counters. Every process counts for itself: with several workers or
replicas, Prometheus scrapes each one and sums them (see docs/deployment.md).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from sqlalchemy.pool import Pool, QueuePool

# Seconds. GraphQL operations take milliseconds; a first token may take a minute while
# a model loads.
OPERATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
FIRST_TOKEN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.operations = Counter(
            "chattree_graphql_operations",
            "GraphQL operations by type and outcome (OK, or the extensions.code of the "
            "first error); a subscription counts once, with its first result",
            ["operation", "code"],
            registry=registry,
        )
        self.operation_seconds = Histogram(
            "chattree_graphql_operation_duration_seconds",
            "Time to an operation's result; for a subscription, to its first event",
            ["operation"],
            buckets=OPERATION_BUCKETS,
            registry=registry,
        )
        self.generations = Counter(
            "chattree_generations",
            "Replies ended, by final status",
            ["status"],
            registry=registry,
        )
        self.tokens = Counter(
            "chattree_generation_tokens",
            "Content and reasoning chunks streamed by the model server (one token each "
            "for most servers)",
            registry=registry,
        )
        self.first_token_seconds = Histogram(
            "chattree_generation_first_token_seconds",
            "Time from sending a reply's request to the model server to its first token",
            buckets=FIRST_TOKEN_BUCKETS,
            registry=registry,
        )
        self.upstream_errors = Counter(
            "chattree_upstream_errors",
            "Failed requests to the model server, by request (stream, complete, models)",
            ["request"],
            registry=registry,
        )
        self.websockets = Gauge(
            "chattree_websocket_connections",
            "Open websocket connections to /graphql",
            registry=registry,
        )
        self._subscriptions = Gauge(
            "chattree_active_subscriptions",
            "messageStream subscriptions being served, over any transport",
            registry=registry,
        )
        self._pool = Gauge(
            "chattree_db_pool_connections",
            "Database connections of the pool: in_use (checked out), idle, size (kept open)",
            ["state"],
            registry=registry,
        )

    def observe_operation(self, operation: str, code: str, seconds: float) -> None:
        self.operations.labels(operation, code).inc()
        self.operation_seconds.labels(operation).observe(seconds)

    def watch_subscriptions(self, count: Callable[[], int]) -> None:
        self._subscriptions.set_function(count)

    def watch_pool(self, pool: Pool) -> None:
        """Reads the pool at each scrape; pools without a limit (SQLite in memory) report
        nothing."""
        if not isinstance(pool, QueuePool):
            return
        self._pool.labels("in_use").set_function(pool.checkedout)
        self._pool.labels("idle").set_function(pool.checkedin)
        self._pool.labels("size").set_function(pool.size)

    def exposition(self) -> tuple[bytes, str]:
        """The text format Prometheus scrapes, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

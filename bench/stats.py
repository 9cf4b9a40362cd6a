"""The arithmetic of timings: summaries of repeated runs, and ratios to a baseline."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Median, p95 and p99 of repeated samples (any unit), and how many there were."""

    n: int
    median: float
    p95: float
    p99: float

    @classmethod
    def of(cls, samples: Sequence[float]) -> Summary:
        if not samples:
            raise ValueError("no samples to summarise")
        ordered = sorted(samples)
        return cls(
            len(ordered),
            statistics.median(ordered),
            percentile(ordered, 95),
            percentile(ordered, 99),
        )

    def scaled(self, factor: float) -> Summary:
        return Summary(self.n, self.median * factor, self.p95 * factor, self.p99 * factor)


def percentile(ordered: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile of sorted samples: with few samples, p99 is the largest,
    never an interpolation below what was seen."""
    rank = math.ceil(pct / 100 * len(ordered))
    return ordered[max(rank, 1) - 1]


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> Summary:
    """The ratios of samples taken side by side (the i-th of each in the same round): on a
    shared machine far steadier than a ratio of two medians, since both saw the same load."""
    return Summary.of([a / b for a, b in zip(numerators, denominators, strict=True)])


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    """Seconds one call of `action` takes."""
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start

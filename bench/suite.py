"""A benchmark: what it measures, its target, and the function that runs it on one
database, at full size or at the CI smoke size."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bench import DATABASES
from bench.report import Result

# (the result to fill, "sqlite" or "postgres", smoke size?)
Run = Callable[[Result, str, bool], Awaitable[None]]


@dataclass(frozen=True)
class Benchmark:
    number: int
    name: str
    title: str
    target: str
    run: Run
    databases: tuple[str, ...] = DATABASES
    # Figures across databases, once every database ran.
    finish: Callable[[Result], None] | None = None

    def result(self) -> Result:
        return Result(self.name, f"{self.number} {self.title}", self.target)


class Unavailable(Exception):
    """The server does not offer what the benchmark measures (yet): reported, not failed."""

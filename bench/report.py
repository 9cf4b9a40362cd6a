"""What a benchmark hands back: rows of figures, printed as a table and kept as JSON."""

from __future__ import annotations

import json
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.stats import Summary, paired_ratios

RESULTS = Path(__file__).with_name("results")


def results_folder() -> Path:
    """bench/results, unless BENCH_RESULTS names another folder (the CI smoke test)."""
    return Path(os.environ.get("BENCH_RESULTS") or RESULTS)


Cell = str | int | float | None


@dataclass
class Result:
    name: str
    title: str
    target: str
    rows: list[dict[str, Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, **cells: Cell | Summary) -> None:
        """One row; a Summary becomes its median, p95, p99 and n columns under its name."""
        row: dict[str, Cell] = {}
        for key, value in cells.items():
            if isinstance(value, Summary):
                row |= {
                    f"{key} median": value.median,
                    f"{key} p95": value.p95,
                    f"{key} p99": value.p99,
                    f"{key} n": value.n,
                }
            else:
                row[key] = value
        self.rows.append(row)

    def timings(
        self,
        baseline: str,
        samples: dict[str, list[float]],
        **cells: Cell,
    ) -> None:
        """One row per case of `samples` (seconds, taken in the same rounds): its time in
        ms, and its ratio to the `baseline` case, paired round by round."""
        for case, seconds in samples.items():
            self.add(
                **cells,
                case=case,
                ms=Summary.of(seconds).scaled(1000),
                ratio=paired_ratios(seconds, samples[baseline]).median,
                ratio_p95=paired_ratios(seconds, samples[baseline]).p95,
            )

    def note(self, text: str) -> None:
        self.notes.append(text)

    def table(self) -> str:
        columns: list[str] = []
        for row in self.rows:
            columns += [key for key in row if key not in columns]
        cells = [[show(row.get(key)) for key in columns] for row in self.rows]
        widths = [max([len(c), *(len(line[i]) for line in cells)]) for i, c in enumerate(columns)]
        lines = [
            f"== #{self.title} ==",
            f"target: {self.target}",
            "  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)),
        ]
        lines += [
            "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True)) for line in cells
        ]
        lines += [f"note: {text}" for text in self.notes]
        return "\n".join(lines)

    def save(self, smoke: bool) -> Path:
        folder = results_folder()
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{self.name}{'.smoke' if smoke else ''}.json"
        document: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "target": self.target,
            "smoke": smoke,
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "load_average": os.getloadavg(),
            },
            "rows": self.rows,
            "notes": self.notes,
        }
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path


def show(value: Cell) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)

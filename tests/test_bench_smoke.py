"""The benchmark suite at its smoke size: every benchmark runs end to end on SQLite and
PostgreSQL and checks what it measures (every token once and in order, the same
messages from the API as from the floor, ...). Nothing here looks at a timing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI, postgres_reachable

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(900)
def test_every_benchmark_runs_at_smoke_size_and_writes_its_results(tmp_path: Path) -> None:
    from bench.__main__ import SUITE

    databases = ["sqlite"]
    if IN_CI or asyncio.run(postgres_reachable()):
        databases.append("postgres")
    command = [sys.executable, "-m", "bench", "all", "--smoke"]
    command += [f"--db={db}" for db in databases]
    finished = subprocess.run(
        command,
        cwd=ROOT,
        env=os.environ | {"BENCH_RESULTS": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-5000:] + finished.stderr[-5000:]
    for benchmark in SUITE:
        document = json.loads((tmp_path / f"{benchmark.name}.smoke.json").read_text())
        statuses = {row.get("status") for row in document["rows"]}
        assert "FAILED" not in statuses, document["notes"]
        ran = {row["db"] for row in document["rows"] if row.get("status") is None}
        available = "not available" not in statuses
        expected = {db for db in databases if db in benchmark.databases}
        if available:
            assert expected <= {str(db).split()[0] for db in ran}, document

"""schema.graphql is generated from the code and covers the public contract."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chattree.api.schema import schema

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = ROOT.parent / "shared" / "API.graphql"
# Additions to the contract, checked together with it.
ADDITIONS = [ROOT.parent / "shared" / "contract" / "portability.graphql"]
CHECKER = ROOT.parent / "shared" / "tools" / "check_contract.py"


def test_schema_file_is_current() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is stale: run `chattree schema > schema.graphql`"
    )


def test_schema_is_a_superset_of_the_contract() -> None:
    if not CONTRACT.exists():
        import pytest

        pytest.skip("the shared contract is not beside this checkout")
    result = subprocess.run(
        [
            sys.executable,
            str(CHECKER),
            str(ROOT / "schema.graphql"),
            str(CONTRACT),
            *(str(path) for path in ADDITIONS),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr

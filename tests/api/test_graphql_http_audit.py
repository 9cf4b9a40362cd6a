"""The graphql-http audit suite (GraphQL over HTTP conformance) against the real server.

It is an npm package, run by node from tests/js (`npm ci` there installs it; .ci/run
does). Every audit must pass: MUST, SHOULD and MAY alike, no warnings.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.commands import run_command
from tests.conftest import IN_CI
from tests.harness import Api

JS = Path(__file__).resolve().parents[1] / "js"
AUDIT_TIMEOUT = 120.0


def node() -> str:
    found = shutil.which("node")
    installed = (JS / "node_modules" / "graphql-http").is_dir()
    if found is None or not installed:
        message = "node and tests/js/node_modules are needed: run `npm ci` in tests/js"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_every_graphql_over_http_audit_passes(api: Api) -> None:
    code, out, err = await run_command(
        node(), str(JS / "audit.mjs"), f"{api.url}/graphql", cwd=JS, timeout=AUDIT_TIMEOUT
    )
    assert code == 0, err
    results = [json.loads(line) for line in out.splitlines()]
    # The suite of graphql-http 1.23 has 61 audits; fewer would mean it did not run.
    assert len(results) >= 60, results
    not_ok = [result for result in results if result["status"] != "ok"]
    assert not_ok == []

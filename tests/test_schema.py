"""schema.graphql is generated from the code and covers the public contract, with the
additions of every finished piece of work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chattree.api.schema import schema

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
CHECKER = SHARED / "tools" / "check_contract.py"
# Contract additions this schema implements, in `extend type` form.
ADDITIONS = [
    "long-conversations.graphql",
    "portability.graphql",
    "model-controls.graphql",
    "sync-search.graphql",
]
# Arguments the additions put on existing fields, which `extend type` cannot express.
NEW_ARGUMENTS = {
    ("Conversation", "branch"): {"through", "last", "before"},
    ("Conversation", "currentBranch"): {"last", "before"},
    ("Message", "path"): {"last", "before"},
    ("Query", "conversations"): {"archived"},
    ("Mutation", "createConversation"): {"settings"},
    ("Mutation", "prompt"): {"model"},
    ("Mutation", "regenerate"): {"model"},
    ("Mutation", "continueGeneration"): {"model"},
}


def test_schema_file_is_current() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str() + "\n", (
        "schema.graphql is stale: run `chattree schema > schema.graphql`"
    )


def test_schema_is_a_superset_of_the_contract_and_its_additions() -> None:
    if not CHECKER.exists():
        pytest.skip("the shared contract is not beside this checkout")
    files = [SHARED / "API.graphql", *(SHARED / "contract" / name for name in ADDITIONS)]
    result = subprocess.run(
        [sys.executable, str(CHECKER), str(ROOT / "schema.graphql"), *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("field", "arguments"), NEW_ARGUMENTS.items(), ids=[".".join(f) for f in NEW_ARGUMENTS]
)
def test_fields_take_the_new_arguments(field: tuple[str, str], arguments: set[str]) -> None:
    type_name, field_name = field
    graphql_type = schema._schema.get_type(type_name)
    assert graphql_type is not None
    assert arguments <= set(graphql_type.fields[field_name].args)  # type: ignore[attr-defined]

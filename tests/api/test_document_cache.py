"""A document a client sends again is neither parsed nor validated again; what the
parse and validation steps refuse is refused every time, with the same code."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import strawberry.schema.schema
from graphql.language.parser import Parser

from tests.harness import Api


def fresh(document: str) -> str:
    """`document` under a name no other test sends: the caches outlive one test."""
    return f"# {uuid.uuid4()}\n{document}"


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The documents graphql-core's validator is run on."""
    seen: list[object] = []
    validate = strawberry.schema.schema.validate

    def counting(schema: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(document)
        return validate(schema, document, *args, **kwargs)

    monkeypatch.setattr(strawberry.schema.schema, "validate", counting)
    return seen


async def test_a_document_sent_again_is_validated_once(
    api: Api, alice: str, validations: list[object]
) -> None:
    query = fresh("query($f: Int) { conversations(first: $f) { edges { cursor } } }")
    for first in (1, 2, 3):
        await api.ok(query, {"f": first}, token=alice)
    assert len(validations) == 1
    await api.ok(fresh("{ me { id } }"), token=alice)
    assert len(validations) == 2


async def test_a_document_sent_again_is_parsed_once(api: Api, alice: str) -> None:
    query = fresh("{ me { username } }")
    calls = 0
    original = Parser.parse_document

    def counting(self: Parser) -> Any:
        nonlocal calls
        calls += 1
        return original(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Parser, "parse_document", counting)
        for _ in range(3):
            assert await api.ok(query, token=alice) == {"me": {"username": "alice"}}
    assert calls == 1


async def test_refusals_repeat_with_their_codes(api: Api, alice: str) -> None:
    nested = "id " + "children { " * 20 + "id" + " }" * 20
    too_deep = fresh(f"query($id: ID!) {{ message(id: $id) {{ {nested} }} }}")
    unknown = fresh("{ me { id shoeSize } }")
    broken = fresh("{ me { id ")
    for _ in range(2):
        error = await api.fails(too_deep, {"id": "1"}, token=alice)
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert "depth" in error["message"]
        error = await api.fails(unknown, token=alice)
        assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
        assert "shoeSize" in error["message"]
        error = await api.fails(broken, token=alice)
        assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}

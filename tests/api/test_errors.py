"""Errors carry the contract's extensions.code; nothing internal reaches a client."""

from __future__ import annotations

import pytest

from tests.fake_model import FakeModelServer
from tests.harness import Api


async def test_an_unexpected_error_is_masked_and_names_its_request_id(
    api: Api, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # tests/api/test_request_ids.py checks the log line it points to.
    async def broken(**_: object) -> None:
        raise RuntimeError("SELECT secret FROM internals")

    monkeypatch.setattr(api.services.conversations, "page", broken)
    error = await api.fails("{ conversations { edges { cursor } } }", token=alice)
    assert error["extensions"]["code"] == "INTERNAL"
    assert "SELECT" not in error["message"] and "Traceback" not in error["message"]
    request_id = error["extensions"]["requestId"]
    assert error["message"] == f"internal server error (request id {request_id})"


async def test_a_query_with_a_syntax_error_is_graphql_parse_failed(api: Api) -> None:
    error = await api.fails("{ me { id ")
    assert error["extensions"] == {"code": "GRAPHQL_PARSE_FAILED"}
    assert "Syntax Error" in error["message"]


async def test_an_unknown_field_is_graphql_validation_failed(api: Api, alice: str) -> None:
    error = await api.fails("{ me { password } }", token=alice)
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}
    assert "password" in error["message"]


async def test_a_missing_required_argument_is_graphql_validation_failed(
    api: Api, alice: str
) -> None:
    error = await api.fails("{ conversation { id } }", token=alice)
    assert error["extensions"] == {"code": "GRAPHQL_VALIDATION_FAILED"}


async def test_a_value_refused_by_a_resolver_stays_bad_user_input(api: Api) -> None:
    error = await api.fails('mutation { register(username: "", password: "x") { token } }')
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_variable_of_the_wrong_type_is_bad_user_input(api: Api, alice: str) -> None:
    error = await api.fails(
        "query($f: Int) { conversations(first: $f) { edges { cursor } } }",
        {"f": "many"},
        token=alice,
    )
    assert error["extensions"]["code"] == "BAD_USER_INPUT"


async def test_queries_nested_beyond_the_depth_limit_are_refused(api: Api, alice: str) -> None:
    nested = "id " + "children { " * 20 + "id" + " }" * 20
    error = await api.fails(
        f"query($id: ID!) {{ message(id: $id) {{ {nested} }} }}", {"id": "1"}, token=alice
    )
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "depth" in error["message"]


async def test_a_realistic_deep_tree_query_is_allowed(api: Api, alice: str) -> None:
    nested = "id " + "children { id " * 8 + " }" * 8
    data = await api.ok(
        f"query($id: ID!) {{ message(id: $id) {{ {nested} }} }}", {"id": "1"}, token=alice
    )
    assert data == {"message": None}


async def test_too_many_aliases_are_refused(api: Api, alice: str) -> None:
    aliases = " ".join(f"a{i}: me {{ id }}" for i in range(60))
    error = await api.fails(f"{{ {aliases} }}", token=alice)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "aliases" in error["message"]


async def test_too_many_tokens_are_refused(api: Api, alice: str) -> None:
    fields = " ".join("id" for _ in range(6000))
    error = await api.fails(f"{{ me {{ {fields} }} }}", token=alice)
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "tokens" in error["message"]


async def test_a_request_body_over_the_limit_is_refused_before_it_is_read(api: Api) -> None:
    limit = 6 * api.services.settings.max_message_length + 64 * 1024
    async with api.http.post(
        f"{api.url}/graphql",
        data=b'{"query": "' + b"x" * (limit + 1) + b'"}',
        headers={"Content-Type": "application/json"},
    ) as response:
        assert response.status == 413


async def test_models_lists_what_the_model_server_offers(api: Api, alice: str) -> None:
    data = await api.ok("{ models { id } }", token=alice)
    assert data["models"] == [{"id": "test-model"}, {"id": "other-model"}]


async def test_models_is_an_upstream_error_when_the_model_server_fails(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.models_status = 503
    error = await api.fails("{ models { id } }", token=alice)
    assert error["extensions"]["code"] == "UPSTREAM_ERROR"
    assert "503" in error["message"]


async def test_models_needs_a_token(api: Api) -> None:
    error = await api.fails("{ models { id } }")
    assert error["extensions"]["code"] == "UNAUTHENTICATED"

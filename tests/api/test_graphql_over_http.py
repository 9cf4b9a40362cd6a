"""GraphQL over HTTP: media types and status codes follow the Accept header."""

from __future__ import annotations

from typing import Any

import pytest

from chattree.api.media_types import response_media_type
from tests.harness import Api

GRAPHQL_RESPONSE = "application/graphql-response+json"
# What graphql-http's client and graphql-request send.
PREFERRING_GRAPHQL_RESPONSE = "application/graphql-response+json, application/json;q=0.9"


async def post(
    api: Api,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    accept: str | None,
    token: str | None = None,
) -> tuple[int, str, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if accept is not None:
        headers["Accept"] = accept
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with api.http.post(
        f"{api.url}/graphql", json={"query": query, "variables": variables}, headers=headers
    ) as response:
        body: dict[str, Any] = await response.json(content_type=None)
        return response.status, response.headers["content-type"], body


REQUEST_ERRORS = [
    pytest.param("{ me { id ", None, "GRAPHQL_PARSE_FAILED", id="parse"),
    pytest.param("{ nothingHere }", None, "GRAPHQL_VALIDATION_FAILED", id="validation"),
    pytest.param(
        "query($id: ID!) { message(id: $id) { id } }",
        {"id": None},
        "BAD_USER_INPUT",
        id="variable coercion",
    ),
    pytest.param(
        "query($f: Int) { conversations(first: $f) { edges { cursor } } }",
        {"f": "many"},
        "BAD_USER_INPUT",
        id="variable of the wrong type",
    ),
    pytest.param(
        "{ " + " ".join(f"a{i}: __typename" for i in range(60)) + " }",
        None,
        "GRAPHQL_VALIDATION_FAILED",
        id="alias limit",
    ),
]


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, PREFERRING_GRAPHQL_RESPONSE])
async def test_a_request_error_is_400_without_data_for_graphql_response_clients(
    api: Api, query: str, variables: dict[str, Any] | None, code: str, accept: str
) -> None:
    status, content_type, body = await post(api, query, variables, accept=accept)
    assert status == 400
    assert content_type == GRAPHQL_RESPONSE
    assert "data" not in body
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS)
@pytest.mark.parametrize("accept", ["application/json", "*/*", None])
async def test_a_request_error_stays_200_for_json_clients(
    api: Api, query: str, variables: dict[str, Any] | None, code: str, accept: str | None
) -> None:
    status, content_type, body = await post(api, query, variables, accept=accept)
    assert status == 200
    assert content_type == "application/json"
    assert body["data"] is None
    assert [error["extensions"]["code"] for error in body["errors"]] == [code]


async def test_a_successful_query_is_200_in_the_media_type_asked_for(api: Api, alice: str) -> None:
    status, content_type, body = await post(
        api, "{ me { username } }", accept=GRAPHQL_RESPONSE, token=alice
    )
    assert (status, content_type) == (200, GRAPHQL_RESPONSE)
    assert body == {"data": {"me": {"username": "alice"}}}


async def test_an_error_in_a_field_is_200_with_data_even_for_graphql_response_clients(
    api: Api,
) -> None:
    # Execution began: the response has a data entry, so it is a 2xx.
    status, _, body = await post(api, "{ me { id } }", accept=GRAPHQL_RESPONSE)
    assert status == 200
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["errors"][0]["path"] == ["me"]


async def test_a_value_refused_by_a_resolver_is_200_with_data(api: Api) -> None:
    status, _, body = await post(
        api,
        'mutation { register(username: "", password: "correct horse") { token } }',
        accept=GRAPHQL_RESPONSE,
    )
    assert status == 200
    assert "data" in body
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "username"}


async def test_an_internal_error_before_execution_is_500_for_graphql_response_clients(
    api: Api, alice: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: object) -> object:
        raise RuntimeError("the context could not be built")

    monkeypatch.setattr("chattree.api.context.Context.for_operation", broken)
    status, _, body = await post(api, "{ me { id } }", accept=GRAPHQL_RESPONSE, token=alice)
    assert status == 500, body
    assert "data" not in body
    error = body["errors"][0]
    assert error["extensions"]["code"] == "INTERNAL"
    assert "could not be built" not in error["message"]


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        (None, "application/json"),
        ("", "application/json"),
        ("*/*", "application/json"),
        ("application/json", "application/json"),
        ("application/graphql-response+json", GRAPHQL_RESPONSE),
        ("Application/GraphQL-Response+JSON; charset=utf-8", GRAPHQL_RESPONSE),
        (PREFERRING_GRAPHQL_RESPONSE, GRAPHQL_RESPONSE),
        ("application/json, application/graphql-response+json;q=0.5", "application/json"),
        ("application/graphql-response+json;q=0, application/json", "application/json"),
        ("application/graphql-response+json;q=oops", "application/json"),
        ("application/graphql-response+json;q=nan", "application/json"),
        ("application/graphql-response+json;q=0.5, */*;q=0.1", GRAPHQL_RESPONSE),
        ("text/html", "application/json"),
    ],
)
def test_the_response_media_type_follows_the_clients_preference(
    accept: str | None, chosen: str
) -> None:
    assert response_media_type(accept) == chosen

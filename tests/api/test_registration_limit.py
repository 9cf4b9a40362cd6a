"""Registrations are limited per client address: each one costs an argon2 hash."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import Api

REGISTER = """
mutation($u: String!, $p: String!) { register(username: $u, password: $p) { token } }
"""


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "REGISTRATIONS_PER_HOUR": "2"}


async def register_from(api: Api, address: str, username: str) -> dict[str, Any]:
    async with api.http.post(
        f"{api.url}/graphql",
        json={"query": REGISTER, "variables": {"u": username, "p": "correct horse"}},
        headers={"X-Forwarded-For": address},
    ) as response:
        body: dict[str, Any] = await response.json()
        return body


async def test_registrations_past_the_limit_of_an_address_are_rate_limited(api: Api) -> None:
    assert "errors" not in await register_from(api, "10.0.0.1", "first")
    assert "errors" not in await register_from(api, "10.0.0.1", "second")
    refused = await register_from(api, "10.0.0.1", "third")
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "RATE_LIMITED"
    assert 0 < error["extensions"]["retryAfter"] <= 3600
    assert "registrations" in error["message"]
    assert "errors" not in await register_from(api, "10.0.0.2", "third")


async def test_invalid_registrations_do_not_use_up_the_limit(api: Api) -> None:
    for _ in range(3):
        refused = await register_from(api, "10.0.0.1", "NO")
        assert refused["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "errors" not in await register_from(api, "10.0.0.1", "first")

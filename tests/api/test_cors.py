"""Browsers on other origins reach the API only from the origins CORS_ORIGINS lists."""

from __future__ import annotations

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin, Subprotocol

from tests.harness import Api

ALLOWED = "https://chat.example.com"
OTHER = "https://evil.example.net"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "CORS_ORIGINS": f"{ALLOWED}, http://localhost:5173"}


async def preflight(api: Api, origin: str) -> tuple[int, str | None]:
    async with api.http.options(
        f"{api.url}/graphql",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    ) as response:
        return response.status, response.headers.get("Access-Control-Allow-Origin")


async def test_a_listed_origin_passes_the_preflight(api: Api) -> None:
    assert await preflight(api, ALLOWED) == (200, ALLOWED)


async def test_an_unlisted_origin_fails_the_preflight(api: Api) -> None:
    status, allowed = await preflight(api, OTHER)
    assert status == 400 and allowed is None


async def test_a_listed_origin_may_open_a_websocket(api: Api) -> None:
    async with connect(
        api.ws_url, origin=Origin(ALLOWED), subprotocols=[Subprotocol("graphql-transport-ws")]
    ) as ws:
        assert ws.subprotocol == "graphql-transport-ws"


async def test_an_unlisted_origin_may_not_open_a_websocket(api: Api) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            api.ws_url, origin=Origin(OTHER), subprotocols=[Subprotocol("graphql-transport-ws")]
        ):
            pass
    assert refused.value.response.status_code == 403


async def test_a_listed_origin_may_read_and_send_the_request_id(api: Api) -> None:
    async with api.http.post(
        f"{api.url}/graphql",
        json={"query": "{ __typename }"},
        headers={"Origin": ALLOWED, "X-Request-ID": "from-the-browser"},
    ) as response:
        assert response.headers["X-Request-ID"] == "from-the-browser"
        assert "x-request-id" in response.headers["Access-Control-Expose-Headers"].lower()
    async with api.http.options(
        f"{api.url}/graphql",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-request-id",
        },
    ) as response:
        assert response.status == 200

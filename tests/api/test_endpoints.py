"""The HTTP endpoints around the GraphQL API."""

from __future__ import annotations

from tests.harness import Api


async def test_healthz_answers_while_the_process_is_up(api: Api) -> None:
    async with api.http.get(f"{api.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_readyz_answers_when_the_database_does(api: Api) -> None:
    async with api.http.get(f"{api.url}/readyz") as response:
        assert response.status == 200


async def test_readyz_is_unavailable_when_the_database_is_not(api: Api) -> None:
    # The database "fails" by the reader raising: disposing of the running server's
    # engine instead would leak a connection its background work checks out meanwhile.
    original = api.services.db.reader

    def unreachable() -> object:
        raise OSError("database is down")

    object.__setattr__(api.services.db, "reader", unreachable)
    try:
        async with api.http.get(f"{api.url}/readyz") as response:
            assert response.status == 503
    finally:
        object.__setattr__(api.services.db, "reader", original)


async def test_graphiql_is_served_to_browsers(api: Api) -> None:
    async with api.http.get(f"{api.url}/graphql", headers={"Accept": "text/html"}) as response:
        assert response.status == 200
        assert "graphiql" in (await response.text()).lower()


async def test_docs_redirects_to_graphiql(api: Api) -> None:
    async with api.http.get(f"{api.url}/docs", allow_redirects=False) as response:
        assert response.status in (302, 307)
        assert response.headers["Location"].endswith("/graphql")

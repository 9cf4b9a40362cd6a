"""GraphiQL is ChatTree's own page, and everything it loads comes from ChatTree."""

from __future__ import annotations

import re
from pathlib import Path

from tests.harness import Api

STATIC = Path(__file__).resolve().parents[2] / "src" / "chattree" / "api" / "static"
VENDORED = STATIC / "graphiql"
TYPES = {".js": "text/javascript", ".css": "text/css"}


async def page(api: Api) -> tuple[str, str]:
    async with api.http.get(f"{api.url}/graphql", headers={"Accept": "text/html"}) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        return await response.text(), response.headers["Content-Security-Policy"]


async def test_the_page_loads_only_this_servers_files(api: Api) -> None:
    html, _ = await page(api)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert len(assets) >= 8
    for asset in assets:
        if asset.startswith("data:"):
            continue
        assert asset.startswith("/static/"), asset
        async with api.http.get(f"{api.url}{asset}") as response:
            assert response.status == 200, asset
            assert response.content_type == TYPES[Path(asset).suffix], asset
            assert len(await response.read()) > 100, asset
    assert "https://" not in html and "http://" not in html


async def test_the_browser_is_told_to_refuse_other_origins(api: Api) -> None:
    _, policy = await page(api)
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["connect-src"] == "'self'"


async def test_an_api_request_to_graphql_still_gets_json(api: Api) -> None:
    async with api.http.get(
        f"{api.url}/graphql", params={"query": "{ __typename }"}, headers={"Accept": "*/*"}
    ) as response:
        assert response.content_type == "application/json"
        assert (await response.json()) == {"data": {"__typename": "Query"}}


async def test_a_missing_asset_is_not_found(api: Api) -> None:
    async with api.http.get(f"{api.url}/static/graphiql/nothing.js") as response:
        assert response.status == 404
    async with api.http.get(f"{api.url}/static/../settings.py") as response:
        assert response.status == 404


def test_each_vendored_package_is_pinned_with_its_licence_beside_it() -> None:
    pinned = (VENDORED / "VERSIONS").read_text().splitlines()
    names = {line.split()[0].rsplit("@", 1)[0] for line in pinned}
    assert names == {"graphiql", "@graphiql/plugin-explorer", "react", "react-dom"}
    assert all(re.fullmatch(r"\S+@\d+\.\d+\.\d+ sha512-\S+", line) for line in pinned)
    for folder in (path for path in VENDORED.iterdir() if path.is_dir()):
        assert "MIT License" in (folder / "LICENSE").read_text(), folder


def test_the_vendored_assets_stay_small() -> None:
    size = sum(path.stat().st_size for path in STATIC.rglob("*") if path.is_file())
    assert size < 3_000_000, f"{size} bytes under {STATIC}"

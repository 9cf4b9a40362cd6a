"""/metrics: Prometheus' text format, off unless METRICS=on, and behind METRICS_TOKEN."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping

import pytest
from prometheus_client.parser import text_string_to_metric_families

from chattree.settings import Settings
from tests.fake_model import FakeModelServer, Reply
from tests.harness import Api, running_server
from tests.ws import (
    TIMEOUT,
    connect,
    final_message,
    next_event,
    start_reply,
    subscribe_stream,
)

TOKEN = "metrics-token-for-the-tests"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "METRICS": "on", "METRICS_TOKEN": TOKEN}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(api: Api, token: str | None = TOKEN) -> Samples:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with api.http.get(f"{api.url}/metrics", headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/plain"
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, labels: Mapping[str, str] | None = None) -> float:
    return samples.get((name, frozenset((labels or {}).items())), 0.0)


async def test_a_prompt_moves_the_generation_and_operation_counters(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Count me"] = Reply(content="one two three four five", reasoning="hm")
    before = await scrape(api)
    _, reply_id = await start_reply(api, alice, "Count me")
    await final_message(api, alice, reply_id)
    await api.fails("{ me { username } }")  # no token
    after = await scrape(api)

    assert value(after, "chattree_generations_total", {"status": "COMPLETE"}) == 1
    assert value(before, "chattree_generations_total", {"status": "COMPLETE"}) == 0
    # The fake model sends one reasoning chunk and one chunk per word.
    assert value(after, "chattree_generation_tokens_total") == 6
    assert value(after, "chattree_generation_first_token_seconds_count") == 1
    ok_mutations = {"operation": "mutation", "code": "OK"}
    # register (alice) before the first scrape, createConversation after it.
    assert value(after, "chattree_graphql_operations_total", ok_mutations) == 2
    assert value(before, "chattree_graphql_operations_total", ok_mutations) == 1
    refused = {"operation": "query", "code": "UNAUTHENTICATED"}
    assert value(after, "chattree_graphql_operations_total", refused) == 1
    assert (
        value(after, "chattree_graphql_operation_duration_seconds_count", {"operation": "mutation"})
        == 2
    )
    assert value(after, "chattree_db_pool_connections", {"state": "size"}) > 0
    assert ("chattree_db_pool_connections", frozenset({("state", "in_use")})) in after


async def test_a_failing_model_server_counts_upstream_errors(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Fail"] = Reply(status=500)
    _, reply_id = await start_reply(api, alice, "Fail")
    assert (await final_message(api, alice, reply_id))["status"] == "FAILED"
    samples = await scrape(api)
    assert value(samples, "chattree_upstream_errors_total", {"request": "stream"}) == 1
    assert value(samples, "chattree_generations_total", {"status": "FAILED"}) == 1


async def test_failed_titles_and_model_lists_count_as_upstream_errors(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.title_status = 500
    fake_model.models_status = 500
    _, reply_id = await start_reply(api, alice, "Untitled")
    await final_message(api, alice, reply_id)
    assert (await api.fails("{ models { id } }", token=alice))["extensions"]["code"] == (
        "UPSTREAM_ERROR"
    )
    samples = await scrape_until(
        api, lambda s: value(s, "chattree_upstream_errors_total", {"request": "complete"}) == 1
    )
    assert value(samples, "chattree_upstream_errors_total", {"request": "models"}) >= 1
    assert value(samples, "chattree_upstream_errors_total", {"request": "stream"}) == 0


async def test_a_request_that_does_not_parse_counts_as_an_unknown_operation(api: Api) -> None:
    await api.fails("{ me ")
    samples = await scrape(api)
    invalid = {"operation": "unknown", "code": "BAD_USER_INPUT"}
    assert value(samples, "chattree_graphql_operations_total", invalid) == 1


async def test_websockets_and_subscriptions_are_gauged_while_open(
    api: Api, alice: str, fake_model: FakeModelServer
) -> None:
    fake_model.replies["Slowly"] = Reply(content="word " * 200, delay=0.02, chunk_size=5)
    _, reply_id = await start_reply(api, alice, "Slowly")
    async with connect(api.ws_url, token=alice) as ws:
        operation = await subscribe_stream(ws, reply_id)
        await next_event(operation)
        samples = await scrape(api)
        assert value(samples, "chattree_websocket_connections") == 1
        assert value(samples, "chattree_active_subscriptions") == 1
        assert (
            value(
                samples,
                "chattree_graphql_operations_total",
                {"operation": "subscription", "code": "OK"},
            )
            == 1
        )
    # The server notices the closed socket on its own time: poll.
    await scrape_until(api, lambda s: value(s, "chattree_websocket_connections") == 0)
    await scrape_until(api, lambda s: value(s, "chattree_active_subscriptions") == 0)


async def scrape_until(api: Api, condition: Callable[[Samples], bool]) -> Samples:
    async with asyncio.timeout(TIMEOUT):
        while True:
            samples = await scrape(api)
            if condition(samples):
                return samples
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("authorization", [None, "Bearer wrong-token-of-some-length", "Basic x"])
async def test_metrics_without_the_token_are_refused(api: Api, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with api.http.get(f"{api.url}/metrics", headers=headers) as response:
        assert response.status == 401
        assert "chattree_" not in await response.text()


async def test_metrics_are_not_served_unless_turned_on(server_env: dict[str, str]) -> None:
    env = {k: v for k, v in server_env.items() if not k.startswith("METRICS")}
    async with (
        running_server(Settings.from_env(env)) as api,
        api.http.get(f"{api.url}/metrics") as response,
    ):
        assert response.status == 404


async def test_metrics_without_a_token_are_open_when_turned_on_with_a_warning(
    server_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    env = {**server_env, "METRICS": "on"}
    del env["METRICS_TOKEN"]
    with caplog.at_level(logging.WARNING, logger="chattree"):
        async with running_server(Settings.from_env(env)) as api:
            samples = await scrape(api, token=None)
    assert ("chattree_websocket_connections", frozenset()) in samples
    assert any("METRICS_TOKEN" in record.getMessage() for record in caplog.records)

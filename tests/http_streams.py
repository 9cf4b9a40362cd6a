"""Subscriptions over plain HTTP, read the way their client libraries read them.

`multipart_results` speaks Apollo's multipart subscription protocol: a POST with
`Accept: multipart/mixed;subscriptionSpec=1.0`, answered with one JSON part per result
(`{"payload": {...}}`) and empty `{}` parts as heartbeats. `sse_results` speaks the
graphql-sse protocol's distinct-connections mode: `event: next` / `event: complete`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp

from tests.harness import Client
from tests.ws import STREAM, OperationFailed

MULTIPART_ACCEPT: Final = 'multipart/mixed;boundary="graphql";subscriptionSpec=1.0,application/json'


@asynccontextmanager
async def open_stream(
    client: Client, path: str, accept: str, body: dict[str, Any], token: str | None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """POSTs one operation asking for a streamed answer; checks it is one."""
    headers = {"Accept": accept}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    async with client.http.post(f"{client.url}{path}", json=body, headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == accept.split(";")[0]
        yield response


async def multipart_results(
    client: Client, query: str, variables: dict[str, Any], *, token: str | None
) -> AsyncIterator[dict[str, Any]]:
    """The payloads of one multipart subscription, heartbeats left out."""
    body = {"query": query, "variables": variables}
    async with open_stream(client, "/graphql", MULTIPART_ACCEPT, body, token) as response:
        reader = aiohttp.MultipartReader.from_response(response)
        while (part := await reader.next()) is not None:
            assert isinstance(part, aiohttp.BodyPartReader)
            body = json.loads(await part.text())
            if body == {}:
                continue
            yield body["payload"]


async def sse_results(
    client: Client, query: str, variables: dict[str, Any], *, token: str | None
) -> AsyncIterator[dict[str, Any]]:
    """The `next` payloads of one graphql-sse operation, until `complete`."""
    body = {"query": query, "variables": variables}
    async with open_stream(client, "/graphql/stream", "text/event-stream", body, token) as response:
        event: str | None = None
        data: list[str] = []
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[len("event:") :].strip()
            elif line.startswith("data:"):
                data.append(line[len("data:") :].strip())
            elif line == "" and event is not None:
                if event == "complete":
                    return
                assert event == "next", event
                yield json.loads("".join(data))
                event, data = None, []
        raise AssertionError("the event stream ended without a complete event")


async def stream_over(
    transport: str, client: Client, message_id: str, *, token: str | None
) -> list[dict[str, Any]]:
    """The MessageEvents of messageStream over `transport` ("multipart" or "sse");
    OperationFailed when a result carries errors."""
    results = multipart_results if transport == "multipart" else sse_results
    events: list[dict[str, Any]] = []
    async for payload in results(client, STREAM, {"id": message_id}, token=token):
        if payload.get("errors"):
            raise OperationFailed(payload["errors"])
        events.append(payload["data"]["messageStream"])
    return events

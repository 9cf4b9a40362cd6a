"""The demo model server speaks OpenAI's protocol, and says honestly what it is."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from chattree.demo import DEMO_MODEL, DemoModelServer
from chattree.llm import ChatMessage, ModelClient

FAST = 10_000.0  # tokens per second: these tests read the stream, not its pace
SKY = [
    {"role": "system", "content": "You are helpful."},
    {"role": "user", "content": "Why is the sky blue?"},
]


@pytest.fixture
async def demo() -> AsyncIterator[DemoModelServer]:
    async with DemoModelServer.on_free_port(tokens_per_second=FAST).running() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def chunks(
    http: aiohttp.ClientSession, demo: DemoModelServer, body: dict[str, Any]
) -> list[Any]:
    """The data of every SSE event of one streamed answer, [DONE] included."""
    async with http.post(f"{demo.base_url}/chat/completions", json=body) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = (await response.read()).decode()
    events = [event for event in raw.split("\n\n") if event]
    assert all(event.startswith("data: ") for event in events), raw
    return [event[6:] if event == "data: [DONE]" else json.loads(event[6:]) for event in events]


async def streamed(demo: DemoModelServer, messages: list[dict[str, str]]) -> tuple[str, str]:
    """(content, reasoning) as ChatTree's own client reads them."""
    async with aiohttp.ClientSession() as session:
        client = ModelClient(session=session, base_url=demo.base_url)
        content, reasoning = "", ""
        request = [ChatMessage(m["role"], m["content"]) for m in messages]
        async for delta in client.stream_chat(model=DEMO_MODEL, messages=request):
            content += delta.content
            reasoning += delta.reasoning
    return content, reasoning


async def test_the_demo_lists_its_one_model(
    demo: DemoModelServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{demo.base_url}/models") as response:
        body = await response.json()
    assert body["object"] == "list"
    assert [model["id"] for model in body["data"]] == [DEMO_MODEL]


async def test_a_stream_is_framed_as_openai_frames_it(
    demo: DemoModelServer, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": DEMO_MODEL,
        "messages": SKY,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    role, *tokens, finish, usage, done = await chunks(http, demo, body)
    assert role["object"] == "chat.completion.chunk"
    assert role["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert len(tokens) > 20
    for token in tokens:
        assert token["id"] == role["id"] and token["model"] == DEMO_MODEL
        assert token["usage"] is None
        (choice,) = token["choices"]
        assert choice["finish_reason"] is None and set(choice["delta"]) == {"content"}
    assert finish["choices"][0] == {
        "index": 0,
        "delta": {},
        "logprobs": None,
        "finish_reason": "stop",
    }
    assert usage["choices"] == []
    assert usage["usage"]["completion_tokens"] == len(tokens)
    assert usage["usage"]["total_tokens"] == (
        usage["usage"]["prompt_tokens"] + usage["usage"]["completion_tokens"]
    )
    assert done == "[DONE]"


async def test_without_include_usage_there_is_no_usage_chunk(
    demo: DemoModelServer, http: aiohttp.ClientSession
) -> None:
    *rest, finish, done = await chunks(
        http, demo, {"model": DEMO_MODEL, "messages": SKY, "stream": True}
    )
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert all("usage" not in chunk for chunk in [*rest, finish])
    assert done == "[DONE]"


async def test_the_reply_reasons_then_says_it_is_a_demo_and_how_to_use_a_real_model(
    demo: DemoModelServer,
) -> None:
    content, reasoning = await streamed(demo, SKY)
    assert "I was sent a system prompt, 1 user message and 0 earlier replies" in reasoning
    assert "<think>" not in content
    assert "demo model" in content and "no language model wrote this" in content
    assert "“Why is the sky blue?”" in content
    for variable in ("MODEL_BASE_URL", "MODEL_API_KEY", "DEFAULT_MODEL"):
        assert variable in content


async def test_the_depth_is_counted_from_the_messages_sent(demo: DemoModelServer) -> None:
    deeper = [
        *SKY,
        {"role": "assistant", "content": "Rayleigh scattering."},
        {"role": "user", "content": "And at sunset?"},
    ]
    content, reasoning = await streamed(demo, deeper)
    assert "this reply is at depth 4 of the tree" in content
    assert "after 2 messages of yours and 1 reply of mine" in content
    assert "sits at depth 4" in reasoning


async def test_a_regeneration_is_told_as_a_sibling(demo: DemoModelServer) -> None:
    first, _ = await streamed(demo, SKY)
    again, _ = await streamed(demo, SKY)
    assert "no sibling replies yet" in first
    assert "answer number 2 to exactly these messages" in again
    assert "1 older sibling" in again


async def test_an_edited_message_is_told_as_a_new_branch(demo: DemoModelServer) -> None:
    original, _ = await streamed(demo, SKY)
    edited, _ = await streamed(demo, [SKY[0], {"role": "user", "content": "Why is grass green?"}])
    assert "the only one I have seen after this history" in original
    assert "version 2 of 2 I have seen after this history" in edited
    assert "no sibling replies yet" in edited


async def test_a_request_without_stream_gets_a_title_from_the_first_words(
    demo: DemoModelServer, http: aiohttp.ClientSession
) -> None:
    body = {
        "model": DEMO_MODEL,
        "messages": [
            {"role": "system", "content": "Write a short title."},
            {"role": "user", "content": "Why is the sky blue on a summer day?"},
        ],
    }
    async with http.post(f"{demo.base_url}/chat/completions", json=body) as response:
        answer = await response.json()
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"] == "Why is the sky blue on"


@pytest.mark.parametrize(
    "body",
    [{}, {"messages": []}, {"messages": "hi"}, {"messages": ["hi"]}],
    ids=["empty", "no-messages", "not-a-list", "not-objects"],
)
async def test_a_malformed_request_is_refused_as_openai_refuses_it(
    demo: DemoModelServer, http: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    async with http.post(f"{demo.base_url}/chat/completions", json=body) as response:
        assert response.status == 400
        error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error"
    assert "messages" in error["message"]

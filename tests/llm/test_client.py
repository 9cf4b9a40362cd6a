from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from chattree.errors import UpstreamError
from chattree.llm import (
    ChatMessage,
    Delta,
    ModelClient,
    Sampling,
    Timeouts,
    Usage,
    normalize_base_url,
)
from tests.fake_model import FakeModelServer, Reply, usage_of

LONG = " ".join(f"word{i}" for i in range(100))


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage("system", "Be brief."), ChatMessage("user", text)]


async def drain(stream: AsyncIterator[Delta]) -> tuple[list[Delta], UpstreamError | None]:
    """Every delta the stream yields, and the error it ended with, if any."""
    deltas: list[Delta] = []
    try:
        async for delta in stream:
            deltas.append(delta)
    except UpstreamError as exc:
        return deltas, exc
    return deltas, None


async def drain_or_raise(stream: AsyncIterator[Delta]) -> list[Delta]:
    return [delta async for delta in stream]


def text(deltas: list[Delta]) -> tuple[str, str]:
    return "".join(d.content for d in deltas), "".join(d.reasoning for d in deltas)


def finish_of(deltas: list[Delta]) -> str | None:
    return next((d.finish_reason for d in deltas if d.finish_reason), None)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def quick(
    fake: FakeModelServer,
    http: aiohttp.ClientSession,
    *,
    first_token: float = 2.0,
    idle: float = 0.3,
) -> ModelClient:
    return ModelClient(
        session=http,
        base_url=fake.base_url,
        timeouts=Timeouts(connect=2.0, first_token=first_token, idle=idle),
    )


# Base URL


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("http://127.0.0.1:11434", "http://127.0.0.1:11434/v1"),
        ("http://127.0.0.1:11434/", "http://127.0.0.1:11434/v1"),
        ("http://127.0.0.1:11434/v1/", "http://127.0.0.1:11434/v1"),
        ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1"),
        ("https://openrouter.ai/api/v1/", "https://openrouter.ai/api/v1"),
    ],
)
def test_base_url_without_a_path_gets_v1_and_any_other_path_is_kept(given: str, used: str) -> None:
    assert normalize_base_url(given) == used


async def test_a_bare_host_base_url_reaches_the_servers_v1_routes(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    client = ModelClient(session=http, base_url=fake_model.root_url)
    assert client.base_url == fake_model.base_url
    assert await client.list_models() == ["test-model", "other-model"]


async def test_a_base_url_ending_in_v1_is_used_as_given(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    client = ModelClient(session=http, base_url=fake_model.base_url + "/")
    assert client.base_url == fake_model.base_url
    assert await client.list_models() == ["test-model", "other-model"]


# Models


async def test_models_are_cached_so_a_second_call_does_not_reach_the_server(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    assert await client.list_models() == ["test-model", "other-model"]
    fake_model.models = ["changed"]
    assert await client.list_models() == ["test-model", "other-model"]
    assert fake_model.models_requests == 1


async def test_models_are_fetched_again_once_the_cache_expires(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    client = ModelClient(session=http, base_url=fake_model.base_url, models_ttl=0)
    await client.list_models()
    fake_model.models = ["changed"]
    assert await client.list_models() == ["changed"]
    assert fake_model.models_requests == 2


async def test_concurrent_callers_share_one_models_request(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    answers = await asyncio.gather(*(client.list_models() for _ in range(5)))
    assert answers == [["test-model", "other-model"]] * 5
    assert fake_model.models_requests == 1


async def test_a_failing_models_endpoint_raises_with_status_and_message(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.models_status = 503
    with pytest.raises(UpstreamError, match="HTTP 503: models are unavailable"):
        await client.list_models()


async def test_a_failed_models_request_is_not_cached(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.models_status = 500
    with pytest.raises(UpstreamError):
        await client.list_models()
    fake_model.models_status = 200
    assert await client.list_models() == ["test-model", "other-model"]


# Reaching the server


async def test_a_closed_port_raises_connection_refused(http: aiohttp.ClientSession) -> None:
    client = ModelClient(session=http, base_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(
        UpstreamError, match=r"cannot reach the model server at .*: connection refused"
    ):
        await client.list_models()
    with pytest.raises(UpstreamError, match="connection refused"):
        await drain_or_raise(client.stream_chat(model="m", messages=ask("hi")))
    with pytest.raises(UpstreamError, match="connection refused"):
        await client.complete(model="m", messages=ask("hi"))


async def test_the_api_key_is_sent_as_a_bearer_token(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.api_key = "sk-test"
    client = ModelClient(session=http, base_url=fake_model.base_url, api_key="sk-test")
    assert await client.list_models() == ["test-model", "other-model"]
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert error is None
    assert text(deltas)[0] == "Echo: hi"
    assert await client.complete(model="test-model", messages=ask("hi")) == "A short title"


async def test_a_refused_api_key_raises_with_the_upstream_message(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.api_key = "sk-test"
    with pytest.raises(UpstreamError, match="HTTP 401: Incorrect API key provided"):
        await client.list_models()
    with pytest.raises(UpstreamError, match="HTTP 401"):
        await drain_or_raise(client.stream_chat(model="test-model", messages=ask("hi")))


# Streaming


async def test_a_stream_yields_the_answer_in_order_then_the_finish_reason(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi there")))
    assert error is None
    assert text(deltas) == ("Echo: hi there", "")
    assert len(deltas) > 2  # token by token, not in one piece
    *tokens, finish, last = deltas
    assert finish == Delta(finish_reason="stop")
    # The usage chunk comes after the finish_reason and is passed on last.
    sent = fake_model.chat_requests[-1]["messages"]
    reported = usage_of(sent, len(tokens))
    assert last == Delta(usage=Usage(reported["prompt_tokens"], reported["completion_tokens"]))
    # The role chunk carries no text, so it yields nothing.
    assert all(d.content and d.finish_reason is None for d in tokens)
    assert fake_model.disconnects == 0


async def test_the_request_is_an_openai_streaming_chat_completion(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert fake_model.requests == [
        {
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hi"},
            ],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    ]


async def test_the_finish_reason_is_passed_on(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(content="Trunc", finish_reason="length")
    deltas, _ = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert finish_of(deltas) == "length"


async def test_reasoning_content_arrives_as_reasoning_before_the_answer(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(reasoning="The user greets me.", content="Hello!")
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert error is None
    assert text(deltas) == ("Hello!", "The user greets me.")
    first_content = next(i for i, d in enumerate(deltas) if d.content)
    assert all(not d.content for d in deltas[:first_content])


async def test_a_reasoning_field_is_read_like_reasoning_content(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(
        reasoning="Greeting.", content="Hello!", reasoning_field="reasoning"
    )
    deltas, _ = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert text(deltas) == ("Hello!", "Greeting.")


async def test_think_tags_cut_across_chunks_are_split_into_reasoning(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(
        reasoning="Is 2 < 3? Yes.", content="Indeed, 2 < 3.", think_tags=True
    )
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert error is None
    assert text(deltas) == ("Indeed, 2 < 3.", "Is 2 < 3? Yes.")


async def test_a_stream_ending_with_finish_reason_but_no_done_is_accepted(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(content="Fine.", send_done=False)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert error is None
    assert text(deltas)[0] == "Fine."
    assert finish_of(deltas) == "stop"


async def test_a_long_stream_that_keeps_flowing_is_not_cut_by_the_idle_timeout(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    # 2.4 s of streaming against a 1.5 s idle timeout: each gap has 1.2 s to spare, so
    # a busy machine does not turn a flowing stream into a stall.
    fake_model.replies["hi"] = Reply(content="a b c d e f g h", delay=0.3)
    client = quick(fake_model, http, idle=1.5)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert error is None
    assert text(deltas)[0] == "a b c d e f g h"


# Stream failures


async def test_an_http_error_names_the_status_and_the_upstream_message(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(status=400, error_message="model exploded")
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert deltas == []
    assert error is not None
    assert error.message == "model server answered HTTP 400: model exploded"


async def test_a_cut_stream_yields_the_partial_answer_then_raises(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(content="one two three four", cut_after=2)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert text(deltas)[0] == "one two"
    assert error is not None
    assert error.message == "model server closed the stream before finishing"
    assert isinstance(error.__cause__, aiohttp.ClientError)


async def test_a_malformed_chunk_raises_after_the_text_before_it(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(content="one two three", malformed_after=1)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert text(deltas)[0] == "one"
    assert error is not None
    assert error.message.startswith("model server sent a malformed chunk: ")


async def test_an_error_object_in_the_stream_raises_with_its_message(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(
        content="one two three", error_chunk_after=2, error_message="provider overloaded"
    )
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert text(deltas)[0] == "one two"
    assert error is not None
    assert "provider overloaded" in error.message


async def test_a_stall_past_the_idle_timeout_raises_after_the_partial_answer(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(content="one two three", stall_after=2)
    client = quick(fake_model, http)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert text(deltas)[0] == "one two"
    assert error is not None
    assert error.message == "model server stalled for 0.3 s"
    await fake_model.wait_for_disconnects(1)


async def test_no_token_within_the_first_token_timeout_raises(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(first_delay=5.0)
    client = quick(fake_model, http, first_token=0.5)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert deltas == []
    assert error is not None
    assert error.message == "model server sent no token within 0.5 s"


async def test_the_first_token_may_take_longer_than_the_idle_timeout(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    # The idle timeout (0.3 s) only starts counting once tokens flow.
    fake_model.replies["hi"] = Reply(content="done", first_delay=0.6)
    client = quick(fake_model, http, first_token=2.0)
    deltas, error = await drain(client.stream_chat(model="test-model", messages=ask("hi")))
    assert error is None
    assert text(deltas)[0] == "done"


# Stopping early


async def test_closing_the_stream_early_drops_the_connection(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(content=LONG, delay=0.05)
    stream = client.stream_chat(model="test-model", messages=ask("hi"))
    first = await anext(stream)
    assert first.content
    await stream.aclose()
    await fake_model.wait_for_disconnects(1)
    assert fake_model.active_streams == 0


async def test_cancelling_the_consumer_drops_the_connection(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.replies["hi"] = Reply(content=LONG, delay=0.05)
    received: list[Delta] = []

    async def consume() -> None:
        async for delta in client.stream_chat(model="test-model", messages=ask("hi")):
            received.append(delta)

    task = asyncio.create_task(consume())
    await fake_model.wait_for_streams(1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await fake_model.wait_for_disconnects(1)
    assert fake_model.active_streams == 0


# Complete (titles)


async def test_complete_returns_the_answer_without_reasoning_or_spaces(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.title = "<think>A trip, then.</think>\n\n  Paris trip plans  "
    title = await client.complete(
        model="test-model", messages=ask("hi"), sampling=Sampling(max_tokens=20)
    )
    assert title == "Paris trip plans"
    assert fake_model.requests[-1]["stream"] is False
    assert fake_model.requests[-1]["max_tokens"] == 20


async def test_complete_raises_upstream_error_with_the_status(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.title_status = 500
    with pytest.raises(UpstreamError, match="HTTP 500: titles are unavailable"):
        await client.complete(model="test-model", messages=ask("hi"))


def test_text_no_database_can_store_is_replaced_as_it_arrives() -> None:
    from chattree.llm.stream import read_chunk

    chunk = {
        "choices": [
            {
                "index": 0,
                "delta": {"content": "nul\x00 half \ud83d", "reasoning_content": "\udc00x"},
                "finish_reason": None,
            }
        ]
    }
    assert read_chunk(chunk) == ("nul\ufffd half \ufffd", "\ufffdx", None)

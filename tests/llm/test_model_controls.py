"""What the client sends and reads for model controls: sampling settings, usage, the
continuation of a partial reply, and the context window a server reports."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from chattree.llm import ChatMessage, Delta, ModelClient, Sampling, Timeouts, Usage
from chattree.llm.stream import read_usage
from tests.fake_model import FakeModelServer, Reply


async def drain(
    client: ModelClient, messages: list[ChatMessage], sampling: Sampling | None = None
) -> list[Delta]:
    stream = client.stream_chat(
        model="test-model", messages=messages, sampling=sampling or Sampling()
    )
    return [delta async for delta in stream]


def ask(text: str) -> list[ChatMessage]:
    return [ChatMessage("system", "Be brief."), ChatMessage("user", text)]


async def test_sampling_settings_that_are_set_reach_the_server_and_the_rest_stay_out(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    await drain(client, ask("hi"), sampling=Sampling(temperature=0.2, max_tokens=50))
    body = fake_model.chat_requests[-1]
    assert (body["temperature"], body["max_tokens"]) == (0.2, 50)
    assert "top_p" not in body
    await drain(client, ask("hi"))
    assert not {"temperature", "top_p", "max_tokens"} & set(fake_model.chat_requests[-1])


async def test_usage_is_passed_on_last_and_is_absent_when_the_server_sends_none(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    deltas = await drain(client, ask("hi"))
    assert deltas[-1].usage is not None and deltas[-1].usage.completion_tokens > 0
    assert all(d.usage is None for d in deltas[:-1])
    fake_model.replies["quiet"] = Reply(content="No counts.", usage=False)
    assert all(d.usage is None for d in await drain(client, ask("quiet")))


@pytest.mark.parametrize(
    "usage",
    [
        None,
        {},
        {"prompt_tokens": 3},
        {"prompt_tokens": "3", "completion_tokens": 1},
        {"prompt_tokens": -1, "completion_tokens": 1},
        {"prompt_tokens": True, "completion_tokens": 1},
        {"prompt_tokens": 2**63, "completion_tokens": 1},
        {"prompt_tokens": 3, "completion_tokens": 2**31},
    ],
)
def test_usage_that_is_missing_or_not_counts_is_no_usage(usage: object) -> None:
    assert read_usage({"choices": [], "usage": usage}) is None


def test_usage_on_a_finishing_chunk_is_read_as_llama_cpp_sends_it() -> None:
    chunk = {
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
    }
    assert read_usage(chunk) == Usage(12, 5)


async def test_a_trailing_assistant_message_is_sent_as_is_to_servers_that_continue_it(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    messages = [*ask("Count"), ChatMessage("assistant", "One, two,")]
    await drain(client, messages)
    body = fake_model.chat_requests[-1]
    assert body["messages"][-1] == {"role": "assistant", "content": "One, two,"}
    assert "continue_final_message" not in body and "add_generation_prompt" not in body


async def test_vllm_is_asked_to_continue_the_final_message(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.context_report = "vllm"
    await drain(client, [*ask("Count"), ChatMessage("assistant", "One, two,")])
    body = fake_model.chat_requests[-1]
    assert (body["continue_final_message"], body["add_generation_prompt"]) == (True, False)
    # A new reply is not a continuation, even on vLLM.
    await drain(client, ask("Count"))
    assert "continue_final_message" not in fake_model.chat_requests[-1]


@pytest.mark.parametrize(
    ("report", "num_ctx", "expected", "probes"),
    [
        ("vllm", None, 32768, []),
        ("llamacpp", None, 32768, ["/props"]),
        ("ollama", None, 32768, ["/props", "/api/show"]),
        ("ollama", 4096, 4096, ["/props", "/api/show"]),
        (None, None, None, ["/props", "/api/show"]),
    ],
    ids=["vllm", "llamacpp", "ollama-model-info", "ollama-num-ctx", "none"],
)
async def test_the_context_window_is_read_where_each_server_reports_it(
    fake_model: FakeModelServer,
    client: ModelClient,
    report: str | None,
    num_ctx: int | None,
    expected: int | None,
    probes: list[str],
) -> None:
    fake_model.context_report = report
    fake_model.ollama_num_ctx = num_ctx
    fake_model.contexts = {"test-model": 32768}
    assert await client.context_tokens("test-model") == expected
    assert fake_model.probe_requests == probes
    # Learned once: asking again costs no request.
    assert await client.context_tokens("test-model") == expected
    assert fake_model.probe_requests == probes
    assert client.known_context_tokens("test-model") == expected


async def test_callers_asking_at_once_share_one_probe(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.context_report = "llamacpp"
    fake_model.contexts = {"test-model": 2048}
    answers = await asyncio.gather(*(client.context_tokens("test-model") for _ in range(5)))
    assert answers == [2048] * 5
    assert fake_model.probe_requests == ["/props"]


async def test_an_unreachable_server_gives_no_context_and_raises_nothing(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeModelServer() as fake:
        url = fake.base_url
    client = ModelClient(session=http, base_url=url, timeouts=Timeouts(connect=1.0, idle=1.0))
    assert await client.context_tokens("test-model") is None


async def test_a_probe_that_answers_garbage_gives_no_context(
    fake_model: FakeModelServer, client: ModelClient
) -> None:
    fake_model.context_report = "llamacpp"
    fake_model.contexts = {"test-model": -5}
    assert await client.context_tokens("test-model") is None

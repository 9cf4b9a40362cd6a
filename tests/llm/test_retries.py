"""The model client asks again after 429 and 5xx answers, before any token, within
bounds; and a reply that never ends is stopped by its total time limit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest

from chattree.errors import UpstreamError
from chattree.llm import ChatMessage, Delta, ModelClient, Retries, Timeouts
from chattree.llm.retry import RetryableStatus, parse_retry_after, retrying
from tests.fake_model import FakeModelServer, Reply

ASK = [ChatMessage("user", "hi")]


def client_of(
    fake: FakeModelServer,
    http: aiohttp.ClientSession,
    *,
    first_token: float = 30.0,
    total: float = 600.0,
    attempts: int = 4,
) -> ModelClient:
    return ModelClient(
        session=http,
        base_url=fake.base_url,
        timeouts=Timeouts(connect=5.0, first_token=first_token, idle=30.0, total=total),
        retries=Retries(attempts=attempts, first_wait=0.05),
    )


async def stream(client: ModelClient) -> tuple[str, UpstreamError | None]:
    deltas: list[Delta] = []
    try:
        async for delta in client.stream_chat(model="test-model", messages=ASK):
            deltas.append(delta)
    except UpstreamError as exc:
        return "".join(d.content for d in deltas), exc
    return "".join(d.content for d in deltas), None


async def test_a_429_with_retry_after_is_asked_again_and_the_reply_completes(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(
        content="Made it.", status=429, status_times=2, retry_after="0", error_message="slow down"
    )
    answer, error = await stream(client_of(fake_model, http))
    assert (answer, error) == ("Made it.", None)
    assert len(fake_model.chat_requests) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_5xx_without_retry_after_is_asked_again_after_a_backoff(
    fake_model: FakeModelServer, http: aiohttp.ClientSession, status: int
) -> None:
    fake_model.replies["hi"] = Reply(content="Made it.", status=status, status_times=1)
    answer, error = await stream(client_of(fake_model, http))
    assert (answer, error) == ("Made it.", None)
    assert len(fake_model.chat_requests) == 2


async def test_retries_stop_after_the_last_attempt_with_the_last_answer(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(status=503, retry_after="0", error_message="overloaded")
    answer, error = await stream(client_of(fake_model, http, attempts=3))
    assert answer == ""
    assert error is not None
    assert error.message == "model server answered HTTP 503: overloaded (gave up after 3 attempts)"
    assert len(fake_model.chat_requests) == 3


async def test_a_retry_after_longer_than_the_longest_wait_fails_at_once(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(status=429, retry_after="3600", error_message="quota")
    _, error = await stream(client_of(fake_model, http))
    assert error is not None
    assert error.message == (
        "model server answered HTTP 429: quota (it asked to retry in 3600 s, too late to wait)"
    )
    assert len(fake_model.chat_requests) == 1


async def test_a_retry_after_beyond_the_first_token_deadline_fails_at_once(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(status=429, retry_after="20", error_message="quota")
    _, error = await stream(client_of(fake_model, http, first_token=10.0))
    assert error is not None and "retry in 20 s" in error.message
    assert len(fake_model.chat_requests) == 1


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_a_client_error_is_not_asked_again(
    fake_model: FakeModelServer, http: aiohttp.ClientSession, status: int
) -> None:
    fake_model.replies["hi"] = Reply(status=status, retry_after="0", error_message="no")
    _, error = await stream(client_of(fake_model, http))
    assert error is not None and error.message == f"model server answered HTTP {status}: no"
    assert len(fake_model.chat_requests) == 1


@pytest.mark.parametrize(
    "reply",
    [
        Reply(content="one two three", cut_after=2),
        Reply(content="one two three", error_chunk_after=2, error_message="overloaded"),
        Reply(content="one two three", malformed_after=2),
    ],
    ids=["cut", "error-chunk", "malformed"],
)
async def test_a_stream_that_fails_after_its_first_token_is_never_asked_again(
    fake_model: FakeModelServer, http: aiohttp.ClientSession, reply: Reply
) -> None:
    fake_model.replies["hi"] = reply
    answer, error = await stream(client_of(fake_model, http))
    assert answer == "one two"
    assert error is not None
    assert len(fake_model.chat_requests) == 1


async def test_titles_are_asked_again_after_a_503_too(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.title_status = 503
    client = client_of(fake_model, http, attempts=2)
    with pytest.raises(UpstreamError, match=r"HTTP 503.*gave up after 2 attempts"):
        await client.complete(model="test-model", messages=ASK)
    assert len(fake_model.requests) == 2


async def test_a_reply_that_never_ends_is_stopped_at_the_total_limit_with_its_text(
    fake_model: FakeModelServer, http: aiohttp.ClientSession
) -> None:
    fake_model.replies["hi"] = Reply(content="tick ", endless=True, delay=0.01)
    answer, error = await stream(client_of(fake_model, http, total=0.5))
    assert error is not None
    assert error.message == (
        "the reply took longer than 0.5 s (MODEL_MAX_REPLY_SECONDS) and was stopped"
    )
    # What arrived before the limit, however much that was, is kept.
    assert ("tick " * (len(answer) // 5 + 1)).startswith(answer)
    await fake_model.wait_for_disconnects(1)
    assert fake_model.active_streams == 0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
        ("Wed, 21 Oct 2026 07:28:30 GMT", 30.0),
        ("Wed, 21 Oct 2026 07:27:00 GMT", 0.0),  # in the past: at once
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    header: str | None, seconds: float | None
) -> None:
    now = datetime(2026, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(header, now=now) == seconds


async def test_a_retry_cut_short_by_the_deadline_reports_the_refusals() -> None:
    # Under load the retry's headers can arrive after the first-token deadline: the cause
    # the user should read is the 503s, not a missing token.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 0.05
    answers = [RetryableStatus("model server answered HTTP 503: overloaded", retry_after=0)]

    async def send() -> None:
        if answers:
            raise answers.pop()
        await asyncio.sleep(deadline - loop.time() + 0.01)  # the slow answer
        raise UpstreamError("model server sent no token within 0.05 s")

    with pytest.raises(UpstreamError) as failed:
        await retrying(send, Retries(attempts=4, first_wait=0.01), deadline=deadline)
    assert failed.value.message == (
        "model server answered HTTP 503: overloaded (gave up after 2 attempts)"
    )


async def test_a_retry_that_fails_otherwise_in_time_reports_its_own_error() -> None:
    answers = [
        UpstreamError("model server answered HTTP 400: bad request"),
        RetryableStatus("model server answered HTTP 503: overloaded", retry_after=0),
    ]

    async def send() -> None:
        raise answers.pop()

    deadline = asyncio.get_running_loop().time() + 60
    with pytest.raises(UpstreamError) as failed:
        await retrying(send, Retries(attempts=4, first_wait=0.01), deadline=deadline)
    assert failed.value.message == "model server answered HTTP 400: bad request"

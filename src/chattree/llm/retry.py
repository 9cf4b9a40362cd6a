"""When to ask the model server again: 429 and 5xx answers, before any token arrived.

A request is retried only while nothing of the answer has been read, so a retry can
never repeat or mix up text. Waits honour `Retry-After`, grow exponentially otherwise,
and are bounded: by a number of attempts, by the longest wait, and by the caller's
deadline (for a reply, its first-token limit).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TypeVar

from chattree.errors import UpstreamError

T = TypeVar("T")

# 429: rate limited; 500/502/503/504: the server or a proxy in front of it is briefly
# unwell. Other statuses (400, 401, 404...) would fail the same way again.
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Retries:
    attempts: int = 4  # requests in all, the first one included
    first_wait: float = 0.5  # seconds; doubled after each failure (with jitter)
    longest_wait: float = 30.0  # a Retry-After beyond this fails at once


class RetryableStatus(UpstreamError):
    """A 429 or 5xx answer; `retry_after` is what its Retry-After header asked for."""

    def __init__(self, message: str, *, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


async def retrying(send: Callable[[], Awaitable[T]], retries: Retries, *, deadline: float) -> T:
    """What `send` returns, asking again after each RetryableStatus while the attempts,
    the longest wait and the loop-time `deadline` allow; else the last answer's error."""
    loop = asyncio.get_running_loop()
    attempt = 1
    refused: RetryableStatus | None = None
    while True:
        try:
            return await send()
        except UpstreamError as exc:
            if not isinstance(exc, RetryableStatus):
                if refused is not None and loop.time() >= deadline:
                    # A retry cut short by the deadline: the refusals are the cause, not
                    # the missing token.
                    raise gave_up(refused, attempt) from None
                raise
            refused = exc
            if attempt == retries.attempts:
                raise gave_up(exc, attempt) from None
            asked = exc.retry_after
            if asked is not None and (
                asked > retries.longest_wait or loop.time() + asked >= deadline
            ):
                raise refused_wait(exc, asked) from None
            wait = backoff(retries, attempt) if asked is None else asked
            if loop.time() + wait >= deadline:
                raise gave_up(exc, attempt) from None
            await asyncio.sleep(wait)
            attempt += 1


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for (delay-seconds or an HTTP date); None when
    absent or unreadable, which falls back to the usual backoff."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def backoff(retries: Retries, failures: int) -> float:
    """The wait after the `failures`-th failure: exponential, with jitter so that many
    replies turned away together do not all come back at the same moment."""
    jitter: float = random.uniform(0.5, 1.0)
    return retries.first_wait * 2.0 ** (failures - 1) * jitter


def gave_up(exc: RetryableStatus, attempts: int) -> UpstreamError:
    if attempts == 1:
        return UpstreamError(exc.message)
    return UpstreamError(f"{exc.message} (gave up after {attempts} attempts)")


def refused_wait(exc: RetryableStatus, wait: float) -> UpstreamError:
    return UpstreamError(f"{exc.message} (it asked to retry in {wait:g} s, too late to wait)")

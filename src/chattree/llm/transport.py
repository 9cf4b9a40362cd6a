"""Requests to a model server, with aiohttp: its exceptions become UpstreamError here,
and answers that are not 2xx become errors that say what the server said."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from chattree.errors import UpstreamError
from chattree.llm.retry import (
    RETRYABLE_STATUSES,
    Retries,
    RetryableStatus,
    parse_retry_after,
    retrying,
)
from chattree.llm.sse import error_message, shorten


@dataclass(slots=True)
class Transport:
    session: aiohttp.ClientSession
    base_url: str  # named in errors: where the server was looked for
    api_key: str
    connect: float  # seconds for a socket connect
    idle: float  # seconds for the body of an error answer
    retries: Retries

    async def request_json(
        self,
        method: str,
        url: str,
        payload: dict[str, Any] | None,
        *,
        wait: float,
        retries: Retries | None = None,
    ) -> Any:
        """The JSON body of a 2xx answer that must arrive, whole, within `wait` seconds."""
        late = f"model server did not answer within {wait:g} s"
        deadline = asyncio.get_running_loop().time() + wait
        response = await retrying(
            lambda: self.send(method, url, payload, deadline=deadline, late=late),
            retries or self.retries,
            deadline=deadline,
        )
        try:
            async with asyncio.timeout_at(deadline):
                raw = await response.read()
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"model server broke off its answer: {reason(exc)}") from exc
        except TimeoutError as exc:
            raise UpstreamError(late) from exc
        finally:
            response.release()
        try:
            body = json.loads(raw)
        except ValueError as exc:
            text = shorten(raw.decode("utf-8", errors="replace"), 120)
            raise UpstreamError(
                f"model server answered something other than JSON: {text!r}"
            ) from exc
        message = error_message(body)
        if message is not None:
            raise UpstreamError(f"model server reported an error: {message}")
        return body

    async def send(
        self,
        method: str,
        url: str,
        payload: dict[str, Any] | None,
        *,
        deadline: float,
        late: str,
    ) -> aiohttp.ClientResponse:
        """The response to one request, once its headers arrived with a 2xx status."""
        connect = self.connect
        try:
            async with asyncio.timeout_at(deadline):
                response = await self.session.request(
                    method,
                    url,
                    json=payload,
                    headers={"Authorization": f"Bearer {self.api_key}"} if self.api_key else {},
                    # total=None overrides the session's default 5-minute total, which
                    # would cut long generations; reads are bounded by the caller. Only
                    # the socket connect is limited, not waiting for a pooled connection
                    # behind other streams: the caller's deadline bounds that.
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=connect),
                )
        except aiohttp.ClientError as exc:
            raise UpstreamError(
                f"cannot reach the model server at {self.base_url}: {reason(exc, connect)}"
            ) from exc
        except TimeoutError as exc:
            raise UpstreamError(late) from exc
        if 200 <= response.status < 300:
            return response
        try:
            async with asyncio.timeout(self.idle):
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            raw = b""
        finally:
            response.close()
        text = raw.decode("utf-8", errors="replace")
        try:
            detail = error_message(json.loads(text))
        except ValueError:
            detail = None
        detail = detail or shorten(text) or response.reason or ""
        status = f"model server answered HTTP {response.status}"
        message = f"{status}: {detail}" if detail else status
        if response.status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise RetryableStatus(message, retry_after=retry_after)
        raise UpstreamError(message)


def reason(exc: aiohttp.ClientError, connect: float | None = None) -> str:
    """Why a request failed, in words an operator can act on."""
    if isinstance(exc, aiohttp.ServerTimeoutError) and connect is not None:
        return f"no connection within {connect:g} s"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return exc.os_error.strerror or str(exc.os_error) or str(exc)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return str(exc) or type(exc).__name__

"""The two websocket subprotocols: authentication at connect, errors of an operation,
and the protocols' own keep-alive messages."""

from __future__ import annotations

import time

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests.harness import Api
from tests.ws import (
    LEGACY_WS,
    PROTOCOLS,
    TRANSPORT_WS,
    ConnectionRefused,
    OperationFailed,
    assert_well_formed,
    connect,
    final_message,
    next_event,
    refusal,
    start_reply,
    stream_events,
    subscribe_stream,
    until,
)


def resigned(token: str, secret: str, *, expires_in: int) -> str:
    """The claims of `token` (user, token version), signed with `secret`, expiring then."""
    claims = jwt.decode(token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 120, exp=now + expires_in)
    return jwt.encode(claims, secret, algorithm="HS256")


def assert_refused(refused: ConnectionRefused, protocol: str) -> None:
    if protocol == TRANSPORT_WS:
        assert refused.code == 4403
    else:
        assert refused.code is None, "graphql-ws refuses with a connection_error message"
        assert isinstance(refused.payload, dict) and refused.payload.get("message")


BAD_AUTHORIZATIONS: list[object] = [
    "",
    "Bearer",
    "Bearer ",
    "Bearer not-a-jwt",
    "Basic YWxpY2U6cGFzc3dvcmQ=",
    42,
    None,
]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_without_a_valid_token_is_refused(api: Api, protocol: str) -> None:
    refused = await refusal(api.ws_url, protocol=protocol, token=None, init_payload={})
    assert_refused(refused, protocol)
    for authorization in BAD_AUTHORIZATIONS:
        payload = {"Authorization": authorization}
        refused = await refusal(api.ws_url, protocol=protocol, token=None, init_payload=payload)
        assert_refused(refused, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_with_an_expired_token_is_refused(
    api: Api, alice: str, server_env: dict[str, str], protocol: str
) -> None:
    token = resigned(alice, server_env["SIGNATURE"], expires_in=-60)
    refused = await refusal(api.ws_url, protocol=protocol, token=token)
    assert_refused(refused, protocol)
    if protocol == LEGACY_WS:
        assert "expired" in refused.payload["message"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_connection_with_a_revoked_token_is_refused(
    api: Api, alice: str, protocol: str
) -> None:
    await api.ok(
        'mutation { changePassword(currentPassword: "correct horse", '
        'newPassword: "battery staple") { token } }',
        token=alice,
    )
    refused = await refusal(api.ws_url, protocol=protocol, token=alice)
    assert_refused(refused, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_token_signed_with_another_secret_is_refused(
    api: Api, alice: str, protocol: str
) -> None:
    forged = resigned(alice, "another-secret-that-is-long-enough-for-hs256", expires_in=3600)
    refused = await refusal(api.ws_url, protocol=protocol, token=forged)
    assert_refused(refused, protocol)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_valid_token_in_connection_init_is_accepted_in_either_case(
    api: Api, alice: str, protocol: str
) -> None:
    user_id, _ = await start_reply(api, alice, "Hello")
    for key in ("Authorization", "authorization"):
        async with connect(
            api.ws_url, token=None, protocol=protocol, init_payload={key: f"Bearer {alice}"}
        ) as ws:
            events = await stream_events(await subscribe_stream(ws, user_id))
        assert_well_formed(events, "COMPLETE")


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribing_to_another_users_message_is_not_found(
    api: Api, alice: str, bob: str, protocol: str
) -> None:
    user_id, reply_id = await start_reply(api, bob, "Bob's secret")
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        for message_id in (user_id, reply_id):
            with pytest.raises(OperationFailed) as failed:
                await stream_events(await subscribe_stream(ws, message_id))
            assert failed.value.code == "NOT_FOUND"
            assert "Bob's secret" not in str(failed.value.errors)
    # Bob's reply went on undisturbed.
    assert (await final_message(api, bob, reply_id))["content"] == "Echo: Bob's secret"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscribing_to_a_message_that_does_not_exist_is_not_found(
    api: Api, alice: str, protocol: str
) -> None:
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        for message_id in ("999999", "0", "-1", "abc", "1e3", "9" * 30, ""):
            with pytest.raises(OperationFailed) as failed:
                await stream_events(await subscribe_stream(ws, message_id))
            assert failed.value.code == "NOT_FOUND", message_id


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_failed_operation_leaves_the_connection_usable(
    api: Api, alice: str, bob: str, protocol: str
) -> None:
    _, bobs = await start_reply(api, bob, "Mine")
    _, alices = await start_reply(api, alice, "Yours")
    async with connect(api.ws_url, token=alice, protocol=protocol) as ws:
        with pytest.raises(OperationFailed):
            await next_event(await subscribe_stream(ws, bobs))
        events = await stream_events(await subscribe_stream(ws, alices))
    assert events[-1]["done"] is True
    assert "".join(event["delta"] for event in events) == "Echo: Yours"


async def test_graphql_transport_ws_answers_a_ping_with_a_pong(api: Api, alice: str) -> None:
    async with connect(api.ws_url, token=alice, protocol=TRANSPORT_WS) as ws:
        await ws.ping()
        await until(lambda: ws.pongs == 1)


async def test_graphql_ws_sends_keep_alives(api: Api, alice: str) -> None:
    async with connect(api.ws_url, token=alice, protocol=LEGACY_WS) as ws:
        await until(lambda: ws.keep_alives >= 1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_an_operation_before_connection_init_closes_the_connection(
    api: Api, alice: str, protocol: str
) -> None:
    user_id, _ = await start_reply(api, alice, "Too early")
    async with connect(api.ws_url, token=None, protocol=protocol, init=False, read=False) as ws:
        await subscribe_stream(ws, user_id)
        with pytest.raises(ConnectionClosed) as closed:
            await ws.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401

"""Authentication: JWTs in `Authorization: Bearer`, revocation, login and its rate limit.

Login attempts are limited per username AND per client address. All test traffic comes
from 127.0.0.1, which uvicorn trusts as a proxy by default (FORWARDED_ALLOW_IPS), so the
tests give each simulated client its own address with `X-Forwarded-For`; without it the
per-address key would be spent by every test request alike and the per-username key could
not be told apart from it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
import websockets
from sqlalchemy import func, select
from websockets.typing import Subprotocol

from chattree.db.models import ServerSecret
from chattree.settings import Settings
from tests.harness import Api, running_server

ATTEMPTS_PER_MINUTE = 3
PASSWORD = "correct horse"
ME = "{ me { id username } }"
LOGIN = """
mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { token user { id username } }
}
"""
CHANGE_PASSWORD = """
mutation($old: String!, $new: String!) {
  changePassword(currentPassword: $old, newPassword: $new) { token }
}
"""
DELETE_ME = "mutation($p: String!) { deleteMe(password: $p) }"


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "LOGIN_ATTEMPTS_PER_MINUTE": str(ATTEMPTS_PER_MINUTE)}


async def post(
    api: Api, query: str, variables: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    async with api.http.post(
        f"{api.url}/graphql", json={"query": query, "variables": variables}, headers=headers
    ) as response:
        body: dict[str, Any] = await response.json()
        return body


async def me_with_header(api: Api, authorization: str) -> dict[str, Any]:
    return await post(api, ME, {}, {"Authorization": authorization})


async def login_from(api: Api, address: str, username: str, password: str) -> dict[str, Any]:
    return await post(api, LOGIN, {"u": username, "p": password}, {"X-Forwarded-For": address})


def code_of(body: dict[str, Any]) -> str | None:
    errors = body.get("errors")
    return str(errors[0]["extensions"]["code"]) if errors else None


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


async def user_id(api: Api, token: str) -> str:
    data = await api.ok(ME, token=token)
    return str(data["me"]["id"])


# The token


async def test_a_token_carries_subject_issue_time_a_version_and_expires_in_seven_days(
    api: Api, alice: str
) -> None:
    claims = claims_of(alice)
    assert claims["sub"] == await user_id(api, alice)
    assert claims["exp"] - claims["iat"] == 7 * 24 * 3600 == 604800
    assert abs(claims["iat"] - time.time()) < 300
    assert {"sub", "iat", "exp"} < set(claims)  # plus the token version
    assert jwt.get_unverified_header(alice)["alg"] in ("HS256", "HS512")


async def test_a_token_is_signed_with_the_signature_setting(
    api: Api, alice: str, server_env: dict[str, str]
) -> None:
    header = jwt.get_unverified_header(alice)
    jwt.decode(alice, server_env["SIGNATURE"], algorithms=[header["alg"]])


async def test_token_ttl_seconds_sets_the_lifetime_of_new_tokens(
    server_env: dict[str, str],
) -> None:
    settings = Settings.from_env({**server_env, "TOKEN_TTL_SECONDS": "90"})
    async with running_server(settings) as api:
        claims = claims_of(await api.register("alice"))
    assert claims["exp"] - claims["iat"] == 90


# The Authorization header


async def test_me_without_a_token_is_unauthenticated(api: Api) -> None:
    error = await api.fails(ME)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_valid_bearer_token_identifies_the_caller(api: Api, alice: str) -> None:
    body = await me_with_header(api, f"Bearer {alice}")
    assert body["data"]["me"]["username"] == "alice"


async def test_the_bearer_scheme_is_case_insensitive(api: Api, alice: str) -> None:
    body = await me_with_header(api, f"bearer {alice}")
    assert body["data"]["me"]["username"] == "alice"


@pytest.mark.parametrize(
    "authorization",
    ["Token x", "Bearer", "Bearer ", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==", "garbage"],
)
async def test_a_malformed_authorization_header_is_unauthenticated(
    api: Api, alice: str, authorization: str
) -> None:
    body = await me_with_header(api, authorization)
    assert code_of(body) == "UNAUTHENTICATED"
    assert body["data"] is None


async def test_the_token_under_another_scheme_is_not_accepted(api: Api, alice: str) -> None:
    body = await me_with_header(api, f"Token {alice}")
    assert code_of(body) == "UNAUTHENTICATED"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9.e30.", "x" * 5000])
async def test_a_garbage_token_is_unauthenticated(api: Api, token: str) -> None:
    error = await api.fails(ME, token=token)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_token_signed_with_another_secret_is_unauthenticated(api: Api, alice: str) -> None:
    forged = jwt.encode(claims_of(alice), "another-secret-that-is-long-enough-too", "HS256")
    error = await api.fails(ME, token=forged)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_an_unsigned_token_is_unauthenticated(api: Api, alice: str) -> None:
    unsigned = jwt.encode(claims_of(alice), key=None, algorithm="none")
    error = await api.fails(ME, token=unsigned)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_token_crafted_with_the_secret_is_accepted_until_it_expires(
    api: Api, alice: str, server_env: dict[str, str]
) -> None:
    now = int(time.time())
    claims = claims_of(alice)
    alive = jwt.encode({**claims, "iat": now - 100, "exp": now + 100}, server_env["SIGNATURE"])
    expired = jwt.encode({**claims, "iat": now - 100, "exp": now - 10}, server_env["SIGNATURE"])
    assert (await api.ok(ME, token=alive))["me"]["username"] == "alice"
    error = await api.fails(ME, token=expired)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert "expired" in error["message"]


@pytest.mark.parametrize("missing", ["sub", "exp", "iat"])
async def test_a_token_without_a_required_claim_is_unauthenticated(
    api: Api, alice: str, server_env: dict[str, str], missing: str
) -> None:
    claims = {k: v for k, v in claims_of(alice).items() if k != missing}
    error = await api.fails(ME, token=jwt.encode(claims, server_env["SIGNATURE"]))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_token_without_its_version_is_unauthenticated(
    api: Api, alice: str, server_env: dict[str, str]
) -> None:
    standard = {"sub", "iat", "exp"}
    claims = {k: v for k, v in claims_of(alice).items() if k in standard}
    error = await api.fails(ME, token=jwt.encode(claims, server_env["SIGNATURE"]))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("subject", ["not-a-number", "999999", "-1"])
async def test_a_signed_token_for_no_existing_user_is_unauthenticated(
    api: Api, alice: str, server_env: dict[str, str], subject: str
) -> None:
    claims = {**claims_of(alice), "sub": subject}
    error = await api.fails(ME, token=jwt.encode(claims, server_env["SIGNATURE"]))
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_token_of_a_deleted_user_is_unauthenticated(api: Api, alice: str) -> None:
    await api.ok(DELETE_ME, {"p": PASSWORD}, token=alice)
    error = await api.fails(ME, token=alice)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_the_token_of_a_deleted_user_does_not_open_a_new_account_of_the_same_name(
    api: Api, alice: str
) -> None:
    await api.ok(DELETE_ME, {"p": PASSWORD}, token=alice)
    new_alice = await api.register("alice")
    assert claims_of(new_alice)["sub"] != claims_of(alice)["sub"]
    error = await api.fails(ME, token=alice)
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_change_password_revokes_every_older_token(api: Api, alice: str) -> None:
    second_device = (await api.ok(LOGIN, {"u": "alice", "p": PASSWORD}))["login"]["token"]
    data = await api.ok(CHANGE_PASSWORD, {"old": PASSWORD, "new": "battery staple"}, token=alice)
    fresh = data["changePassword"]["token"]
    for revoked in (alice, second_device):
        error = await api.fails(ME, token=revoked)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.ok(ME, token=fresh))["me"]["username"] == "alice"


async def test_a_revoked_token_cannot_change_the_password_again(api: Api, alice: str) -> None:
    await api.ok(CHANGE_PASSWORD, {"old": PASSWORD, "new": "battery staple"}, token=alice)
    error = await api.fails(
        CHANGE_PASSWORD, {"old": "battery staple", "new": "third password"}, token=alice
    )
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


async def test_operations_that_need_a_caller_refuse_anonymous_requests(api: Api) -> None:
    for query, variables in [
        ('mutation { updateMe(personality: "x") { id } }', {}),
        (CHANGE_PASSWORD, {"old": PASSWORD, "new": "battery staple"}),
        (DELETE_ME, {"p": PASSWORD}),
    ]:
        error = await api.fails(query, variables)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"


# Websockets carry the same value in connection_init


async def open_socket(api: Api, payload: dict[str, Any]) -> dict[str, Any] | int:
    """The server's answer to connection_init: its first message, or the close code."""
    protocols = [Subprotocol("graphql-transport-ws")]
    async with websockets.connect(api.ws_url, subprotocols=protocols) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": payload}))
        try:
            message: dict[str, Any] = json.loads(await ws.recv())
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None
            return closed.rcvd.code
        return message


async def test_a_websocket_with_a_valid_token_is_acknowledged(api: Api, alice: str) -> None:
    answer = await open_socket(api, {"Authorization": f"Bearer {alice}"})
    assert isinstance(answer, dict) and answer["type"] == "connection_ack"


@pytest.mark.parametrize(
    "payload", [{}, {"Authorization": "Bearer garbage"}, {"Authorization": "Token x"}]
)
async def test_a_websocket_without_a_valid_token_is_refused(
    api: Api, payload: dict[str, Any]
) -> None:
    answer = await open_socket(api, payload)
    assert answer == 4403


# Login


async def test_login_returns_a_working_token_for_the_user(api: Api, alice: str) -> None:
    data = await api.ok(LOGIN, {"u": "alice", "p": PASSWORD})
    token = data["login"]["token"]
    assert data["login"]["user"]["username"] == "alice"
    assert data["login"]["user"]["id"] == await user_id(api, token)


async def test_login_answers_an_unknown_user_and_a_wrong_password_alike(
    api: Api, alice: str
) -> None:
    unknown = await api.fails(LOGIN, {"u": "mallory", "p": PASSWORD})
    wrong = await api.fails(LOGIN, {"u": "alice", "p": "not the password"})
    assert unknown["extensions"] == wrong["extensions"] == {"code": "UNAUTHENTICATED"}
    assert unknown["message"] == wrong["message"]


async def test_login_does_not_accept_a_longer_password_that_starts_with_the_right_one(
    api: Api,
) -> None:
    password = "p" * 1024
    await api.register("alice", password)
    error = await api.fails(LOGIN, {"u": "alice", "p": password + "x"})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    await api.ok(LOGIN, {"u": "alice", "p": password})


async def test_login_is_case_sensitive_about_the_password(api: Api, alice: str) -> None:
    error = await api.fails(LOGIN, {"u": "alice", "p": PASSWORD.upper()})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("password", ["\ud800" * 8, "x" * 100_000])
async def test_login_with_an_impossible_password_is_unauthenticated(
    api: Api, alice: str, password: str
) -> None:
    error = await api.fails(LOGIN, {"u": "alice", "p": password})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("username", ["\ud800lice", "alice\x00", "x" * 10_000, "Alice", ""])
async def test_login_with_an_impossible_username_is_unauthenticated(
    api: Api, alice: str, username: str
) -> None:
    error = await api.fails(LOGIN, {"u": username, "p": PASSWORD})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"


# Rate limit


async def test_login_attempts_beyond_the_limit_are_rate_limited_with_a_retry_delay(
    api: Api, alice: str
) -> None:
    for _ in range(ATTEMPTS_PER_MINUTE):
        body = await login_from(api, "10.0.0.1", "alice", "wrong password")
        assert code_of(body) == "UNAUTHENTICATED"
    body = await login_from(api, "10.0.0.1", "alice", "wrong password")
    assert code_of(body) == "RATE_LIMITED"
    retry_after = body["errors"][0]["extensions"]["retryAfter"]
    assert isinstance(retry_after, int) and 0 < retry_after <= 60


async def test_a_rate_limited_login_is_refused_even_with_the_right_password(
    api: Api, alice: str
) -> None:
    for _ in range(ATTEMPTS_PER_MINUTE):
        await login_from(api, "10.0.0.1", "alice", "wrong password")
    body = await login_from(api, "10.0.0.1", "alice", PASSWORD)
    assert code_of(body) == "RATE_LIMITED"
    assert body["data"] is None


async def test_the_limit_is_per_username_whatever_the_address(api: Api, alice: str) -> None:
    for attempt in range(ATTEMPTS_PER_MINUTE):
        await login_from(api, f"10.0.1.{attempt}", "alice", "wrong password")
    body = await login_from(api, "10.0.2.1", "alice", PASSWORD)
    assert code_of(body) == "RATE_LIMITED"


async def test_other_usernames_can_still_log_in_while_one_is_limited(
    api: Api, alice: str, bob: str
) -> None:
    for attempt in range(ATTEMPTS_PER_MINUTE):
        await login_from(api, f"10.0.1.{attempt}", "alice", "wrong password")
    body = await login_from(api, "10.0.2.1", "bob", PASSWORD)
    assert code_of(body) is None
    assert body["data"]["login"]["user"]["username"] == "bob"


async def test_the_limit_is_per_client_address_whatever_the_username(api: Api, alice: str) -> None:
    for name in ("mallory", "oscar", "trudy")[:ATTEMPTS_PER_MINUTE]:
        await login_from(api, "10.0.0.9", name, "wrong password")
    limited = await login_from(api, "10.0.0.9", "alice", PASSWORD)
    assert code_of(limited) == "RATE_LIMITED"
    elsewhere = await login_from(api, "10.0.0.10", "alice", PASSWORD)
    assert code_of(elsewhere) is None


async def test_a_rate_limited_attempt_does_not_touch_the_database(api: Api, alice: str) -> None:
    for _ in range(ATTEMPTS_PER_MINUTE):
        await login_from(api, "10.0.0.1", "alice", "wrong password")
    async with api.counting_statements() as statements:
        body = await login_from(api, "10.0.0.1", "alice", PASSWORD)
    assert code_of(body) == "RATE_LIMITED"
    # The background sweep of stale replies may run meanwhile; the login itself must not.
    assert [sql for sql in statements if "users" in sql] == []


# The secret when SIGNATURE is unset


async def test_without_signature_a_secret_is_kept_in_the_database_and_shared_by_restarts(
    server_env: dict[str, str],
) -> None:
    env = {k: v for k, v in server_env.items() if k != "SIGNATURE"}
    async with running_server(Settings.from_env(env)) as first:
        alice = await first.register("alice")
    async with running_server(Settings.from_env(env)) as second:
        assert (await second.ok(ME, token=alice))["me"]["username"] == "alice"
        bob = await second.register("bob")
        async with second.services.db.reader() as session:
            secrets = await session.scalar(select(func.count()).select_from(ServerSecret))
        assert secrets == 1
    async with running_server(Settings.from_env(env)) as third:
        assert (await third.ok(ME, token=bob))["me"]["username"] == "bob"
        assert claims_of(alice)["sub"] != claims_of(bob)["sub"]
    # The generated secret is not some fixed value: a configured one rejects its tokens.
    async with running_server(Settings.from_env(server_env)) as configured:
        error = await configured.fails(ME, token=alice)
        assert error["extensions"]["code"] == "UNAUTHENTICATED"

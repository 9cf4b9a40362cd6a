"""Share links: anyone with the token reads exactly the shared path, without the system
prompt, until the link expires, is revoked or loses its message."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from chattree.db.models import Share as ShareRow
from chattree.db.types import utcnow
from tests.api.test_branches import DELETE, two_turns
from tests.harness import Api

CREATE_SHARE = """
mutation($id: ID!, $ttl: Int) {
  createShare(messageId: $id, expiresInSeconds: $ttl) {
    id token conversationId messageId createdAt expiresAt
  }
}
"""

REVOKE = "mutation($id: ID!) { revokeShare(id: $id) }"

SHARED = """
query($t: String!) {
  sharedBranch(token: $t) { title sharedAt messages { role content reasoning model createdAt } }
}
"""

SHARES = "query($id: ID!) { conversation(id: $id) { shares { id token messageId expiresAt } } }"


async def share(api: Api, token: str, message_id: str, ttl: int | None = None) -> dict[str, Any]:
    data = await api.ok(CREATE_SHARE, {"id": message_id, "ttl": ttl}, token=token)
    created: dict[str, Any] = data["createShare"]
    return created


async def shared(api: Api, share_token: str) -> dict[str, Any] | None:
    data = await api.ok(SHARED, {"t": share_token})
    found: dict[str, Any] | None = data["sharedBranch"]
    return found


async def test_a_share_shows_the_path_to_its_message_without_login_or_system_prompt(
    api: Api, alice: str
) -> None:
    ids = await two_turns(api, alice)
    created = await share(api, alice, ids["a2"])
    assert len(created["token"]) >= 22  # at least 128 bits, base64url
    assert created["messageId"] == ids["a2"]
    assert created["conversationId"] == ids["conversation"]
    assert created["expiresAt"] is None

    branch = await shared(api, created["token"])
    assert branch is not None
    assert branch["title"] == "Source"
    assert branch["sharedAt"] == created["createdAt"]
    assert [(m["role"], m["content"]) for m in branch["messages"]] == [
        ("USER", "first"),
        ("ASSISTANT", "Echo: first"),
        ("USER", "second"),
        ("ASSISTANT", "Echo: second"),
    ]
    # The regenerated sibling a2b (the current message) is another branch: not shown.
    assert len(branch["messages"]) == 4


async def test_the_token_is_stored_only_as_a_hash(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    created = await share(api, alice, ids["a1"])
    async with api.services.db.reader() as session:
        stored = list(await session.scalars(select(ShareRow.token_hash)))
    assert len(stored) == 1
    assert created["token"] not in stored[0]
    listed = await api.ok(SHARES, {"id": ids["conversation"]}, token=alice)
    assert listed["conversation"]["shares"] == [
        {"id": created["id"], "token": "", "messageId": ids["a1"], "expiresAt": None}
    ]


async def test_unknown_tokens_read_as_null(api: Api) -> None:
    for token in ("", "nope", "x" * 5000):
        assert await shared(api, token) is None


async def test_a_revoked_share_reads_as_null_at_once(api: Api, alice: str, bob: str) -> None:
    ids = await two_turns(api, alice)
    created = await share(api, alice, ids["a2"])
    error = await api.fails(REVOKE, {"id": created["id"]}, token=bob)
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert await shared(api, created["token"]) is not None

    assert (await api.ok(REVOKE, {"id": created["id"]}, token=alice))["revokeShare"] is True
    assert await shared(api, created["token"]) is None
    listed = await api.ok(SHARES, {"id": ids["conversation"]}, token=alice)
    assert listed["conversation"]["shares"] == []
    error = await api.fails(REVOKE, {"id": created["id"]}, token=alice)
    assert error["extensions"]["code"] == "NOT_FOUND"


async def test_an_expired_share_reads_as_null(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    created = await share(api, alice, ids["a2"], ttl=60)
    assert created["expiresAt"] > created["createdAt"]
    assert await shared(api, created["token"]) is not None
    # The clock is not waited on: the row's expiry is moved into the past.
    async with api.services.db.transaction() as session:
        await session.execute(update(ShareRow).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await shared(api, created["token"]) is None
    listed = await api.ok(SHARES, {"id": ids["conversation"]}, token=alice)
    assert listed["conversation"]["shares"] == []


async def test_a_share_reads_as_null_once_its_message_is_deleted(api: Api, alice: str) -> None:
    ids = await two_turns(api, alice)
    kept = await share(api, alice, ids["a1"])
    gone = await share(api, alice, ids["a2"])
    await api.ok(DELETE, {"id": ids["u2"]}, token=alice)
    assert await shared(api, gone["token"]) is None
    assert await shared(api, kept["token"]) is not None


@pytest.mark.parametrize("ttl", [0, 59, -5])
async def test_bad_expiries_are_refused(api: Api, alice: str, ttl: int) -> None:
    ids = await two_turns(api, alice)
    error = await api.fails(CREATE_SHARE, {"id": ids["a2"], "ttl": ttl}, token=alice)
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "expiresInSeconds" in error["message"]
    listed = await api.ok(SHARES, {"id": ids["conversation"]}, token=alice)
    assert listed["conversation"]["shares"] == []


async def test_other_users_messages_cannot_be_shared(api: Api, alice: str, bob: str) -> None:
    ids = await two_turns(api, alice)
    for bad in (ids["a2"], "0", "z"):
        error = await api.fails(CREATE_SHARE, {"id": bad, "ttl": None}, token=bob)
        assert error["extensions"]["code"] == "NOT_FOUND"
    error = await api.fails(CREATE_SHARE, {"id": ids["a2"], "ttl": None})
    assert error["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.ok(SHARES, {"id": ids["conversation"]}, token=bob))["conversation"] is None

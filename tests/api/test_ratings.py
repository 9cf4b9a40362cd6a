"""rateMessage: the owner rates replies (1, -1) with feedback, and can clear either."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.controls import code_of, create, message
from tests.harness import Api

RATE = """
mutation($id: ID!, $rating: Int, $feedback: String) {
  rateMessage(messageId: $id, rating: $rating, feedback: $feedback) { id rating feedback }
}
"""
RATE_ONLY = """
mutation($id: ID!, $rating: Int) {
  rateMessage(messageId: $id, rating: $rating) { rating feedback }
}
"""
FEEDBACK_ONLY = """
mutation($id: ID!, $f: String) { rateMessage(messageId: $id, feedback: $f) { rating feedback } }
"""


async def rate(api: Api, token: str, **variables: Any) -> dict[str, Any]:
    rated: dict[str, Any] = (await api.ok(RATE, variables, token=token))["rateMessage"]
    return rated


async def test_a_reply_is_rated_with_feedback_and_both_can_be_cleared(api: Api, alice: str) -> None:
    reply = (await create(api, alice, "Rate me"))["assistantMessage"]
    assert (reply["rating"], reply["feedback"]) == (None, None)
    rated = await rate(api, alice, id=reply["id"], rating=1, feedback="Spot on")
    assert (rated["rating"], rated["feedback"]) == (1, "Spot on")
    stored = await message(api, alice, reply["id"])
    assert (stored["rating"], stored["feedback"]) == (1, "Spot on")

    # Left out: kept. Explicit null: cleared.
    changed = await api.ok(RATE_ONLY, {"id": reply["id"], "rating": -1}, token=alice)
    assert changed["rateMessage"] == {"rating": -1, "feedback": "Spot on"}
    cleared = await api.ok(FEEDBACK_ONLY, {"id": reply["id"], "f": None}, token=alice)
    assert cleared["rateMessage"] == {"rating": -1, "feedback": None}
    cleared = await rate(api, alice, id=reply["id"], rating=None, feedback="")
    assert (cleared["rating"], cleared["feedback"]) == (None, None)


@pytest.mark.parametrize("rating", [0, 2, -2, 100])
async def test_a_rating_other_than_one_or_minus_one_is_refused(
    api: Api, alice: str, rating: int
) -> None:
    reply = (await create(api, alice, "Rate me"))["assistantMessage"]
    await rate(api, alice, id=reply["id"], rating=1)
    code = await code_of(api, RATE, {"id": reply["id"], "rating": rating}, alice)
    assert code == "BAD_USER_INPUT"
    assert (await message(api, alice, reply["id"]))["rating"] == 1


async def test_only_replies_can_be_rated_and_feedback_is_bounded(api: Api, alice: str) -> None:
    payload = await create(api, alice, "Rate me")
    user_message = payload["userMessage"]["id"]
    code = await code_of(api, RATE, {"id": user_message, "rating": 1}, alice)
    assert code == "BAD_USER_INPUT"
    reply = payload["assistantMessage"]["id"]
    long = {"id": reply, "rating": 1, "feedback": "x" * 4001}
    assert await code_of(api, RATE, long, alice) == "BAD_USER_INPUT"
    assert (await message(api, alice, reply))["rating"] is None


async def test_the_other_users_reply_cannot_be_rated(api: Api, alice: str, bob: str) -> None:
    reply = (await create(api, alice, "Mine"))["assistantMessage"]["id"]
    assert await code_of(api, RATE, {"id": reply, "rating": -1}, bob) == "NOT_FOUND"
    assert await code_of(api, RATE, {"id": "x", "rating": 1}, alice) == "NOT_FOUND"
    assert (await message(api, alice, reply))["rating"] is None

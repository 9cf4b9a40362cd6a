"""Reading share links is rate-limited per client address (SHARED_READS_PER_MINUTE)."""

from __future__ import annotations

import pytest

from tests.api.test_shares import SHARED, shared
from tests.harness import Api


@pytest.fixture
def server_env(server_env: dict[str, str]) -> dict[str, str]:
    return {**server_env, "SHARED_READS_PER_MINUTE": "5"}


async def test_share_reads_are_rate_limited_per_client_address(api: Api) -> None:
    for _ in range(5):
        assert await shared(api, "unknown") is None
    error = await api.fails(SHARED, {"t": "unknown"})
    assert error["extensions"]["code"] == "RATE_LIMITED"

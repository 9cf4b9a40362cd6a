"""Fixtures for the model client: the fake model server and a real aiohttp session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from chattree.llm import ModelClient, Timeouts
from tests.fake_model import FakeModelServer


@pytest.fixture
async def fake_model() -> AsyncIterator[FakeModelServer]:
    async with FakeModelServer() as fake:
        yield fake


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def client(fake_model: FakeModelServer, http: aiohttp.ClientSession) -> ModelClient:
    return ModelClient(
        session=http,
        base_url=fake_model.base_url,
        timeouts=Timeouts(connect=2.0, first_token=2.0, idle=2.0),
    )

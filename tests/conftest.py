"""Fixtures for every test folder (unit/, cluster/, browser/): a real private redis-server,
a real Stallcast server on a free port, and the folder screenshots land in. What the tests
share besides fixtures lives in tests/helpers/."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from helpers import ROOT
from helpers.servers import Running, start_server
from server.platform.redis_server import PrivateRedis

ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    with tempfile.TemporaryDirectory(prefix="sc-") as tmp:
        server = PrivateRedis(Path(tmp), appendfsync="everysec")
        await server.start()
        try:
            yield server.url
        finally:
            server.stop()


@pytest.fixture
async def server(redis_url: str) -> AsyncIterator[Running]:
    async with start_server(redis_url) as running:
        yield running


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

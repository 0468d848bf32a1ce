"""A sandbox started once per test session at a fixed `now`, and an HTTP client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from sandbox.server import Sandbox, SandboxUrls

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
async def sandbox() -> AsyncIterator[Sandbox]:
    running = Sandbox(seed=7, now=NOW)
    await running.start()
    yield running
    await running.close()


@pytest.fixture(scope="session")
async def urls(sandbox: Sandbox) -> SandboxUrls:
    return sandbox.urls


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session

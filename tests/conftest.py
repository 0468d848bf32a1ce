"""Fixtures shared by the whole suite: the sandbox subsystems and a gateway in front of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from sandbox.server import Sandbox, SandboxUrls
from tests.gateway_process import RunningGateway, serve_gateway


def subsystem_settings(urls: SandboxUrls) -> dict[str, str]:
    """Settings that point a gateway at explicit subsystem URLs (no embedded sandbox)."""
    return {
        "core_url": urls.core,
        "acquisition_url": urls.acquisition,
        "fabric_url": urls.fabric,
        "alerting_url": urls.alerting,
        "mlflow_url": urls.mlflow,
    }


@pytest.fixture(scope="session")
async def sandbox_urls() -> AsyncIterator[SandboxUrls]:
    sandbox = Sandbox(seed=7)
    urls = await sandbox.start()
    yield urls
    await sandbox.close()


@pytest.fixture(scope="session")
async def gateway(sandbox_urls: SandboxUrls) -> AsyncIterator[RunningGateway]:
    async with serve_gateway(**subsystem_settings(sandbox_urls)) as running:
        yield running


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post_graphql(
    session: aiohttp.ClientSession, url: str, query: str, variables: dict[str, Any] | None = None, **kwargs: Any
) -> tuple[int, dict[str, Any]]:
    """POST a GraphQL request as JSON and return the status and decoded body."""
    async with session.post(url, json={"query": query, "variables": variables}, **kwargs) as response:
        return response.status, await response.json(content_type=None)

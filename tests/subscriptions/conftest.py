"""Fixtures of the event bus tests: real Redis and Mosquitto, and buses on isolated key prefixes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import aiohttp
import pytest

from sandbox.server import SandboxUrls
from subscriptions.bus import BusOptions, EventBus, open_event_bus
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway
from tests.peers import PeerProcess, mqtt_url_for_tests, redis_url_for_tests

_session_redis_url: str | None = None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    global _session_redis_url
    with redis_url_for_tests() as url:
        _session_redis_url = url
        yield url
        _session_redis_url = None


@pytest.fixture(scope="session")
def mqtt_peer() -> Iterator[tuple[str, PeerProcess | None]]:
    with mqtt_url_for_tests() as peer:
        yield peer


@pytest.fixture
def unique_prefix(request: pytest.FixtureRequest) -> str:
    """A Redis key prefix of its own per test, so tests never see each other's events."""
    if "bus_kind" in request.fixturenames and request.getfixturevalue("bus_kind") == "redis":
        request.getfixturevalue("redis_url")
    return f"fwtest-{uuid.uuid4().hex[:12]}"


@contextlib.asynccontextmanager
async def open_test_bus(kind: str, prefix: str, options: BusOptions | None = None) -> AsyncIterator[EventBus]:
    """Open a bus of `kind` on its own key prefix and close it afterwards."""
    chosen = options or BusOptions()
    chosen = BusOptions(**{**chosen.__dict__, "key_prefix": prefix})
    url = None
    if kind == "redis":
        assert _session_redis_url is not None, "request the redis_url fixture first"
        url = _session_redis_url
    bus = await open_event_bus(url, chosen)
    try:
        yield bus
    finally:
        await bus.close()


# Gateways for the GraphQL and HTTP tests.


@pytest.fixture
async def bus_gateway(redis_url: str, sandbox_urls: SandboxUrls) -> AsyncIterator[RunningGateway]:
    """A gateway in this process on the Redis bus, with a key prefix of its own."""
    prefix = f"fwtest-{uuid.uuid4().hex[:12]}"
    async with serve_gateway(
        redis_url=redis_url, redis_key_prefix=prefix, **subsystem_settings(sandbox_urls)
    ) as running:
        yield running


def ws_url(gateway: RunningGateway) -> str:
    return gateway.graphql_url.replace("http://", "ws://", 1)


def alert_event(alert_id: str, *, farm: str = "farm-001", severity: str = "warning", kind: str = "raised") -> dict:
    return {
        "specversion": "1.0",
        "id": f"evt-{uuid.uuid4().hex}",
        "source": "/tests/alerting",
        "type": f"com.fishwatch.alert.{kind}",
        "time": "2026-12-01T06:00:00Z",
        "farmid": farm,
        "enclosureid": "enc-001-01",
        "data": {"alertId": alert_id, "severity": severity, "message": f"alert {alert_id}"},
    }


async def post_event(http: aiohttp.ClientSession, gateway: RunningGateway, event: dict) -> str:
    """POST one structured-mode event and return its stream position."""
    async with http.post(
        f"{gateway.url}/events", data=json.dumps(event), headers={"content-type": "application/cloudevents+json"}
    ) as response:
        body = await response.json()
        assert response.status == 202, body
        return str(body["position"])


async def wait_until(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Poll an in-process condition (no event to await exists for it) until it holds."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


def subscriber_count(gateway: RunningGateway, types_prefix: str = "") -> int:
    """Count the bus's local subscriptions, optionally those whose type filters start with a prefix.

    The workflow engine subscribes for its event triggers too, so tests count their own kind.
    """
    return sum(
        1
        for subscription in gateway.services.bus.fanout.all()
        if not types_prefix or any(type_filter.startswith(types_prefix) for type_filter in subscription.filter.types)
    )

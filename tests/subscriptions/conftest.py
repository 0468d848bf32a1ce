"""Fixtures of the event bus tests: real Redis and Mosquitto, and buses on isolated key prefixes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from subscriptions.bus import BusOptions, EventBus, open_event_bus
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

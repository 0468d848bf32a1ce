"""The shared connector base against a real aiohttp server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from common.context import deadline_var
from common.errors import (
    UpstreamBadResponseError,
    UpstreamConflictError,
    UpstreamNotFoundError,
    UpstreamRejectedError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from connectors.base import Connector, ConnectorConfig, segment
from connectors.breaker import BreakerState, CircuitBreaker
from connectors.payloads.common import Payload


class Thing(Payload):
    id: str
    size: int


class Upstream:
    """A scripted subsystem: answers each request with the next (status, body) in `script`."""

    def __init__(self) -> None:
        self.script: list[tuple[int, object]] = []
        self.seen: list[web.Request] = []
        self.paths: list[str] = []
        self.delay_s = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(request)
        self.paths.append(request.raw_path)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        status, body = self.script.pop(0) if self.script else (200, {"id": "a", "size": 1})
        if isinstance(body, bytes):
            return web.Response(body=body, status=status, content_type="application/json")
        return web.json_response(body, status=status)


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[Upstream, str]]:
    fake = Upstream()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield fake, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest.fixture
async def make_connector() -> AsyncIterator:
    opened: list[Connector] = []

    async def make(base_url: str, **overrides) -> Connector:
        config = ConnectorConfig(name="core", base_url=base_url, backoff_base_s=0.001, backoff_max_s=0.002, **overrides)
        connector = Connector(config)
        await connector.start()
        opened.append(connector)
        return connector

    yield make
    for connector in opened:
        await connector.close()


async def test_get_validates_payload(upstream, make_connector):
    fake, url = upstream
    connector = await make_connector(url, auth_header="Bearer s3cret")
    thing = await connector.call("GET", "v1/things/a", Thing)
    assert thing == Thing(id="a", size=1)
    assert fake.seen[0].headers["Authorization"] == "Bearer s3cret"


async def test_get_retries_server_errors(upstream, make_connector):
    fake, url = upstream
    fake.script = [(503, {}), (502, {}), (200, {"id": "b", "size": 2})]
    connector = await make_connector(url, max_attempts=3)
    thing = await connector.call("GET", "v1/things/b", Thing)
    assert thing.id == "b"
    assert len(fake.seen) == 3


async def test_post_without_key_is_not_retried(upstream, make_connector):
    fake, url = upstream
    fake.script = [(503, {}), (200, {"id": "c", "size": 3})]
    connector = await make_connector(url, max_attempts=3)
    with pytest.raises(UpstreamUnavailableError):
        await connector.call("POST", "v1/things", Thing, json_body={"size": 3})
    assert len(fake.seen) == 1


async def test_post_with_idempotency_key_is_retried(upstream, make_connector):
    fake, url = upstream
    fake.script = [(503, {}), (201, {"id": "c", "size": 3})]
    connector = await make_connector(url, max_attempts=3)
    thing = await connector.call("POST", "v1/things", Thing, json_body={"size": 3}, idempotency_key="run-1:step-2")
    assert thing.id == "c"
    assert [request.headers["Idempotency-Key"] for request in fake.seen] == ["run-1:step-2", "run-1:step-2"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(404, UpstreamNotFoundError), (409, UpstreamConflictError), (400, UpstreamRejectedError)],
)
async def test_client_errors_map_and_carry_message(upstream, make_connector, status, error):
    fake, url = upstream
    fake.script = [(status, {"error": {"code": "X", "message": "farm 'f-9' is archived"}})]
    connector = await make_connector(url)
    with pytest.raises(error) as raised:
        await connector.call("GET", "v1/things/a", Thing)
    assert "farm 'f-9' is archived" in raised.value.message
    assert raised.value.subsystem == "core"
    assert len(fake.seen) == 1


async def test_wrong_shape_is_bad_response(upstream, make_connector):
    fake, url = upstream
    fake.script = [(200, {"id": "a", "size": "large"})]
    connector = await make_connector(url)
    with pytest.raises(UpstreamBadResponseError) as raised:
        await connector.call("GET", "v1/things/a", Thing)
    assert "size" in raised.value.message


async def test_oversized_response_is_rejected(upstream, make_connector):
    fake, url = upstream
    fake.script = [(200, b'{"id": "a", "size": 1, "padding": "' + b"x" * 5000 + b'"}')]
    connector = await make_connector(url, max_response_bytes=1024)
    with pytest.raises(UpstreamBadResponseError) as raised:
        await connector.call("GET", "v1/things/a", Thing)
    assert "1024" in raised.value.message


async def test_timeout_is_upstream_timeout(upstream, make_connector):
    fake, url = upstream
    fake.delay_s = 1.0
    connector = await make_connector(url, timeout_s=0.1, max_attempts=1)
    with pytest.raises(UpstreamTimeoutError):
        await connector.call("GET", "v1/things/a", Thing)


async def test_deadline_bounds_call_timeout(upstream, make_connector):
    fake, url = upstream
    fake.delay_s = 1.0
    connector = await make_connector(url, timeout_s=5.0, max_attempts=3)
    loop = asyncio.get_running_loop()
    token = deadline_var.set(loop.time() + 0.2)
    started = loop.time()
    try:
        with pytest.raises(UpstreamTimeoutError):
            await connector.call("GET", "v1/things/a", Thing)
    finally:
        deadline_var.reset(token)
    assert loop.time() - started < 0.6


async def test_unreachable_is_unavailable(make_connector):
    connector = await make_connector("http://127.0.0.1:9", max_attempts=1)
    with pytest.raises(UpstreamUnavailableError) as raised:
        await connector.call("GET", "v1/things/a", Thing)
    assert raised.value.code == "UPSTREAM_UNAVAILABLE"


async def test_segment_keeps_ids_in_one_path_segment(upstream, make_connector):
    fake, url = upstream
    connector = await make_connector(url)
    await connector.call("GET", f"v1/things/{segment('../admin?x=1')}", Thing)
    request = fake.seen[0]
    assert request.path == "/v1/things/../admin?x=1"
    assert request.raw_path.startswith("/v1/things/..%2Fadmin%3F")
    assert request.query_string == ""


def test_breaker_opens_then_probes_once():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_s=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.allow() is False
    now[0] = 10.0
    assert breaker.allow() is True
    assert breaker.allow() is False
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED


def test_breaker_failed_probe_reopens():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=1, reset_s=5, clock=lambda: now[0])
    breaker.record_failure()
    now[0] = 6.0
    assert breaker.allow() is True
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after_s() == pytest.approx(5.0)

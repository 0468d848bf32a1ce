"""Sharing one rendering of an event among subscribers of the same operation, on both protocols."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
import websockets
from graphql import ExecutionResult, GraphQLError
from websockets.typing import Subprotocol

from sandbox.server import SandboxUrls
from subscriptions.render_cache import RenderCache, RenderedData, encode_shared_message
from tests.auth.conftest import ISSUER, AuthGateway, auth_files  # noqa: F401 (auth_files is a fixture)
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway
from tests.subscriptions.conftest import alert_event, post_event, subscriber_count, wait_until, ws_url

ALERT = "com.fishwatch.alert."
ALERTS = """
subscription Alerts($min: AlertSeverity! = INFO) {
  alerts(minSeverity: $min) { alertId farmId severity position }
}
"""


def render_cache(gateway: RunningGateway) -> RenderCache:
    cache: RenderCache = gateway.services.extras["eventing"].render_cache
    return cache


async def subscribe(
    url: str, protocol: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> websockets.ClientConnection:
    socket = await websockets.connect(url, subprotocols=[Subprotocol(protocol)])
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    await socket.send(json.dumps({"type": "connection_init", "payload": payload}))
    assert json.loads(await asyncio.wait_for(socket.recv(), 5))["type"] == "connection_ack"
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    operation = {"query": ALERTS, "variables": variables or {}}
    await socket.send(json.dumps({"id": "op-1", "type": kind, "payload": operation}))
    return socket


async def next_result(socket: websockets.ClientConnection) -> dict[str, Any]:
    """Return the next result message, skipping keep-alives."""
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if message["type"] in ("next", "data"):
            return dict(message)
        assert message["type"] == "ka", message


async def test_same_operation_rendered_once(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    url = ws_url(bus_gateway)
    before = subscriber_count(bus_gateway, ALERT)
    sockets = [await subscribe(url, "graphql-transport-ws"), await subscribe(url, "graphql-ws")]
    await wait_until(lambda: subscriber_count(bus_gateway, ALERT) == before + 2, what="two subscriptions")
    cache = render_cache(bus_gateway)
    hits, misses = cache.hits, cache.misses

    position = await post_event(http, bus_gateway, alert_event("a-shared", severity="critical"))
    transport_ws, graphql_ws = [await next_result(socket) for socket in sockets]
    for socket in sockets:
        await socket.close()

    expected = {"alertId": "a-shared", "farmId": "farm-001", "severity": "CRITICAL", "position": position}
    assert transport_ws == {"id": "op-1", "type": "next", "payload": {"data": {"alerts": expected}}}
    assert graphql_ws == {"id": "op-1", "type": "data", "payload": {"data": {"alerts": expected}}}
    assert cache.misses - misses == 1
    assert cache.hits - hits == 1


async def test_different_variables_rendered_apart(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    url = ws_url(bus_gateway)
    before = subscriber_count(bus_gateway, ALERT)
    every = await subscribe(url, "graphql-transport-ws", {"min": "INFO"})
    urgent = await subscribe(url, "graphql-transport-ws", {"min": "WARNING"})
    await wait_until(lambda: subscriber_count(bus_gateway, ALERT) == before + 2, what="two subscriptions")
    cache = render_cache(bus_gateway)
    misses = cache.misses

    await post_event(http, bus_gateway, alert_event("a-info", severity="info"))
    await post_event(http, bus_gateway, alert_event("a-warning", severity="warning"))
    received_by_every = [(await next_result(every))["payload"]["data"]["alerts"]["alertId"] for _ in range(2)]
    received_by_urgent = (await next_result(urgent))["payload"]["data"]["alerts"]["alertId"]
    await every.close()
    await urgent.close()

    assert received_by_every == ["a-info", "a-warning"]
    assert received_by_urgent == "a-warning"
    # a-info once for `every`; a-warning once per variable set.
    assert cache.misses - misses == 3


@pytest.fixture
async def tenant_gateway(
    sandbox_urls: SandboxUrls,
    auth_files: tuple[Path, Path],  # noqa: F811
) -> AsyncIterator[AuthGateway]:
    """A gateway on the in-memory bus with anonymous access off; without Redis, clients come from the file."""
    clients_file, key_file = auth_files
    async with serve_gateway(
        **subsystem_settings(sandbox_urls),
        auth_anonymous="off",
        oauth_issuer=ISSUER,
        oauth_clients_file=str(clients_file),
        oauth_signing_key_files=[str(key_file)],
    ) as running:
        yield AuthGateway(running, clients_file, key_file)


async def issue_token(gateway: AuthGateway, scopes: str, farms: list[str], kind: str = "client") -> str:
    client = await gateway.register(scopes, farms=farms, kind=kind)
    async with httpx.AsyncClient() as client_http:
        response = await client_http.post(
            gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


@pytest.mark.parametrize("protocol", ["graphql-transport-ws", "graphql-ws"])
async def test_tenants_share_rendering_not_events(
    tenant_gateway: AuthGateway, http: aiohttp.ClientSession, protocol: str
) -> None:
    gateway = tenant_gateway.running
    url = ws_url(gateway)
    publisher = await issue_token(tenant_gateway, "events:publish", ["*"], kind="subsystem")
    before = subscriber_count(gateway, ALERT)
    farm_1 = await subscribe(url, protocol, token=await issue_token(tenant_gateway, "events:subscribe", ["farm-001"]))
    farm_2 = await subscribe(url, protocol, token=await issue_token(tenant_gateway, "events:subscribe", ["farm-002"]))
    every_farm = await subscribe(url, protocol, token=await issue_token(tenant_gateway, "events:subscribe", ["*"]))
    await wait_until(lambda: subscriber_count(gateway, ALERT) == before + 3, what="three subscriptions")
    cache = render_cache(gateway)
    hits, misses = cache.hits, cache.misses

    for farm in ("farm-002", "farm-001"):
        async with http.post(
            f"{gateway.url}/events",
            data=json.dumps(alert_event(f"a-{farm}", farm=farm)),
            headers={"content-type": "application/cloudevents+json", "authorization": f"Bearer {publisher}"},
        ) as response:
            assert response.status == 202, await response.text()
    seen_by_farm_1 = (await next_result(farm_1))["payload"]["data"]["alerts"]["farmId"]
    seen_by_farm_2 = (await next_result(farm_2))["payload"]["data"]["alerts"]["farmId"]
    seen_by_every_farm = [(await next_result(every_farm))["payload"]["data"]["alerts"]["farmId"] for _ in range(2)]
    # Nothing else is on its way: farm-001's subscriber got farm-001's event first, and no other.
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(farm_1.recv(), 0.5)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(farm_2.recv(), 0.5)
    for socket in (farm_1, farm_2, every_farm):
        await socket.close()

    assert seen_by_farm_1 == "farm-001"
    assert seen_by_farm_2 == "farm-002"
    assert seen_by_every_farm == ["farm-002", "farm-001"]
    # One rendering per event, reused by the one other subscriber allowed to see it.
    assert cache.misses - misses == 2
    assert cache.hits - hits == 2


def rendered(data: dict[str, Any]) -> ExecutionResult:
    return ExecutionResult(data, None)


def test_cache_evicts_oldest_over_entries() -> None:
    cache = RenderCache(lambda payload: payload, max_entries=2, max_bytes=1_000)
    for key in ("a", "b", "c"):
        cache.put(key, rendered({"key": key}))

    assert cache.get("a") is None
    assert cache.get("b") is not None
    assert cache.get("c") is not None
    assert len(cache) == 2


def test_cache_evicts_oldest_over_bytes() -> None:
    cache = RenderCache(lambda payload: payload, max_entries=10, max_bytes=30)
    cache.put("a", rendered({"text": "x" * 10}))
    cache.put("b", rendered({"text": "y" * 10}))

    assert cache.get("a") is None
    assert cache.get("b") is not None


def test_cache_keeps_no_result_with_errors() -> None:
    cache = RenderCache(lambda payload: payload, max_entries=10, max_bytes=1_000)
    failed = ExecutionResult(None, [GraphQLError("boom")])

    assert cache.put("a", failed) is failed
    assert cache.get("a") is None


def test_cache_result_too_big_not_kept() -> None:
    cache = RenderCache(lambda payload: payload, max_entries=10, max_bytes=10)
    result = rendered({"text": "x" * 20})

    assert cache.put("a", result) is result
    assert len(cache) == 0


@pytest.mark.parametrize(
    "message",
    [
        {"id": "op-ü", "type": "next", "payload": {"data": {"alerts": {"message": 'é "quoted"\n', "n": [1, 2.5]}}}},
        {"type": "data", "id": "7", "payload": {"data": {"alerts": None}, "extensions": {"cost": 3}}},
    ],
)
def test_shared_message_encodes_like_json(message: dict[str, Any]) -> None:
    data = message["payload"]["data"]
    shared = {
        **message,
        "payload": {**message["payload"], "data": RenderedData(data, json.dumps(data, separators=(",", ":")))},
    }

    assert encode_shared_message(shared) == json.dumps(message, separators=(",", ":"))


def test_plain_message_not_encoded() -> None:
    assert encode_shared_message({"type": "next", "id": "1", "payload": {"data": {"x": 1}}}) is None
    assert encode_shared_message({"type": "ka"}) is None

"""GraphQL over WebSocket: authentication in connection_init on both protocols, scopes and
tenancy of subscriptions, connection limits, and closing when the token expires or is revoked."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from sandbox.server import SandboxUrls
from tests.auth.conftest import ISSUER, AuthGateway
from tests.auth.idp import IdentityProvider, user_claims
from tests.conftest import subsystem_settings
from tests.gateway_process import serve_gateway

PROTOCOLS = ["graphql-transport-ws", "graphql-ws"]
ALERTS = "subscription { alerts { alertId farmId } }"


@pytest.fixture(scope="module")
async def ws_gateway(
    sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path], idp: IdentityProvider
) -> AsyncIterator[AuthGateway]:
    clients_file, key_file = auth_files
    async with serve_gateway(
        **subsystem_settings(sandbox_urls),
        auth_anonymous="off",
        oauth_issuer=ISSUER,
        oauth_clients_file=str(clients_file),
        oauth_signing_key_files=[str(key_file)],
        auth_issuers=[idp.issuer_settings()],
        ws_token_recheck_s=0.2,
        ws_max_connections_per_client=2,
        ws_connection_init_timeout_s=1.0,
    ) as running:
        yield AuthGateway(running, clients_file, key_file)


def ws_url(gateway: AuthGateway) -> str:
    return gateway.url.replace("http://", "ws://") + "/graphql"


async def client_token(gateway: AuthGateway, scopes: str, farms: list[str], kind: str = "client") -> tuple[str, Any]:
    client = await gateway.register(scopes, farms=farms, kind=kind)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
    return str(response.json()["access_token"]), client


async def close_code(gateway: AuthGateway, protocol: str, first_message: dict[str, Any] | None) -> int:
    """Connect, send `first_message` (or nothing) and return the close code the server sends."""
    async with websockets.connect(ws_url(gateway), subprotocols=[Subprotocol(protocol)]) as socket:
        if first_message is not None:
            await socket.send(json.dumps(first_message))
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(socket.recv(), 5)
    assert closed.value.rcvd is not None
    return int(closed.value.rcvd.code)


def start_message(protocol: str, query: str) -> dict[str, Any]:
    kind = "subscribe" if protocol == "graphql-transport-ws" else "start"
    return {"id": "1", "type": kind, "payload": {"query": query}}


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_missing_token_closes_4403(ws_gateway: AuthGateway, protocol: str):
    assert await close_code(ws_gateway, protocol, {"type": "connection_init", "payload": {}}) == 4403


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_bad_token_closes_4403(ws_gateway: AuthGateway, protocol: str):
    message = {"type": "connection_init", "payload": {"Authorization": "Bearer abc.def.ghi"}}

    assert await close_code(ws_gateway, protocol, message) == 4403


@pytest.mark.parametrize(("protocol", "code"), [("graphql-transport-ws", 4401), ("graphql-ws", 4403)])
async def test_operation_before_init_closes(ws_gateway: AuthGateway, protocol: str, code: int):
    assert await close_code(ws_gateway, protocol, start_message(protocol, ALERTS)) == code


async def test_no_init_times_out(ws_gateway: AuthGateway):
    assert await close_code(ws_gateway, "graphql-transport-ws", None) == 4408


async def open_subscription(gateway: AuthGateway, protocol: str, token: str, query: str) -> Any:
    socket = await websockets.connect(ws_url(gateway), subprotocols=[Subprotocol(protocol)])
    await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
    ack = json.loads(await asyncio.wait_for(socket.recv(), 5))
    assert ack["type"] == "connection_ack"
    await socket.send(json.dumps(start_message(protocol, query)))
    return socket


async def next_payload(socket: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 5))
        if message["type"] in ("next", "data", "error", "complete"):
            return dict(message)


def alert_event(farm: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": f"evt-{uuid.uuid4().hex}",
        "source": "/tests/auth",
        "type": "com.fishwatch.alert.raised",
        "time": "2026-12-01T06:00:00Z",
        "farmid": farm,
        "data": {"alertId": f"alr-{farm}-{uuid.uuid4().hex[:6]}", "severity": "warning", "message": "test"},
    }


async def publish(gateway: AuthGateway, token: str, event: dict[str, Any]) -> int:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{gateway.url}/events",
            content=json.dumps(event),
            headers={"content-type": "application/cloudevents+json", "Authorization": f"Bearer {token}"},
        )
    return response.status_code


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscription_only_my_farms(ws_gateway: AuthGateway, protocol: str):
    token, _ = await client_token(ws_gateway, "events:subscribe", ["farm-001"])
    publisher, _ = await client_token(ws_gateway, "events:publish", ["*"], kind="subsystem")
    socket = await open_subscription(ws_gateway, protocol, token, ALERTS)
    try:
        await asyncio.sleep(0.2)
        assert await publish(ws_gateway, publisher, alert_event("farm-016")) == 202
        assert await publish(ws_gateway, publisher, alert_event("farm-001")) == 202
        message = await next_payload(socket)
    finally:
        await socket.close()

    assert message["payload"]["data"]["alerts"]["farmId"] == "farm-001"


async def test_publish_needs_scope(ws_gateway: AuthGateway):
    token, _ = await client_token(ws_gateway, "events:subscribe", ["*"])
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{ws_gateway.url}/events",
            content=json.dumps(alert_event("farm-001")),
            headers={"content-type": "application/cloudevents+json", "Authorization": f"Bearer {token}"},
        )

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["missing_scopes"] == ["events:publish"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_subscription_needs_scope(ws_gateway: AuthGateway, protocol: str):
    token, _ = await client_token(ws_gateway, "farms:read", ["*"])
    socket = await open_subscription(ws_gateway, protocol, token, ALERTS)
    try:
        message = await next_payload(socket)
    finally:
        await socket.close()

    # graphql-transport-ws sends a list of errors; graphql-ws sends one error object.
    payload = message["payload"]
    errors = payload if isinstance(payload, list) else [payload]
    assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    assert "events:subscribe" in errors[0]["message"]


async def test_revoked_token_closes_connection(ws_gateway: AuthGateway):
    token, client = await client_token(ws_gateway, "events:subscribe", ["*"])
    socket = await open_subscription(ws_gateway, "graphql-transport-ws", token, ALERTS)
    async with httpx.AsyncClient() as http:
        await http.post(f"{ws_gateway.url}/oauth/revoke", data={"token": token}, auth=(client.client_id, client.secret))
    with pytest.raises(ConnectionClosed) as closed:
        await next_payload(socket)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert "revoked" in closed.value.rcvd.reason


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_expired_token_closes_connection(ws_gateway: AuthGateway, idp: IdentityProvider, protocol: str):
    token = idp.keys[0].token(user_claims(scope="events:subscribe", exp=int(time.time()) + 2))
    socket = await open_subscription(ws_gateway, protocol, token, ALERTS)
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await next_payload(socket)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert "expired" in closed.value.rcvd.reason
    assert time.monotonic() - started < 4


async def test_connection_limit_per_client(ws_gateway: AuthGateway):
    token, _ = await client_token(ws_gateway, "events:subscribe", ["*"])
    first = await open_subscription(ws_gateway, "graphql-transport-ws", token, ALERTS)
    second = await open_subscription(ws_gateway, "graphql-transport-ws", token, ALERTS)
    try:
        code = await close_code(
            ws_gateway,
            "graphql-transport-ws",
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}},
        )
    finally:
        await first.close()
        await second.close()
    await asyncio.sleep(0.2)
    third = await open_subscription(ws_gateway, "graphql-transport-ws", token, ALERTS)
    await third.close()

    assert code == 4429


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_introspection_over_ws_forbidden(ws_gateway: AuthGateway, protocol: str):
    token, _ = await client_token(ws_gateway, "events:subscribe", ["*"])
    socket = await open_subscription(
        ws_gateway, protocol, token, 'subscription { alerts { alertId __type(name: "Farm") { name } } }'
    )
    try:
        message = await next_payload(socket)
    finally:
        await socket.close()

    payload = message["payload"]
    errors = payload if isinstance(payload, list) else payload.get("errors", [payload])
    assert errors[0]["extensions"]["reason"] == "INTROSPECTION_DISABLED"


async def test_cost_limit_over_ws(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path]):
    clients_file, key_file = auth_files
    query = "query Farms { farms(first: 5) { edges { node { id } } } }"
    async with serve_gateway(**subsystem_settings(sandbox_urls), auth_anonymous="on", max_query_cost=5) as running:
        gateway = AuthGateway(running, clients_file, key_file)
        socket = await websockets.connect(ws_url(gateway), subprotocols=[Subprotocol("graphql-transport-ws")])
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        await asyncio.wait_for(socket.recv(), 5)
        await socket.send(json.dumps(start_message("graphql-transport-ws", query)))
        message = await next_payload(socket)
        await socket.close()

    # farms counts 5 items, and each item's edge and node count 1 more each: 5 + 5 * 2.
    assert message["type"] == "error"
    assert message["payload"][0]["extensions"] == {
        "code": "QUERY_TOO_COMPLEX",
        "limit": "cost",
        "maximum": 5,
        "cost": 15,
    }


async def test_mutation_over_ws_audited(ws_gateway: AuthGateway, caplog: pytest.LogCaptureFixture):
    from tests.auth.conftest import find_alert

    resolved, _ = await find_alert(ws_gateway, "farm-001", "RESOLVED")
    token, client = await client_token(ws_gateway, "alerts:write", ["*"])
    caplog.set_level(logging.INFO, logger="fishwatch.audit")
    mutation = f'mutation Close {{ resolveAlert(id: "{resolved}", actor: "ops") {{ status }} }}'
    socket = await open_subscription(ws_gateway, "graphql-transport-ws", token, mutation)
    try:
        message = await next_payload(socket)
    finally:
        await socket.close()

    assert message["payload"]["data"]["resolveAlert"]["status"] == "RESOLVED"
    assert any(
        record.getMessage()
        == f"mutation caller=client:{client.client_id} operation=Close outcome=ok transport=websocket"
        for record in caplog.records
    )


async def test_persisted_only_refused_over_ws(sandbox_urls: SandboxUrls, auth_files: tuple[Path, Path]):
    clients_file, key_file = auth_files
    async with serve_gateway(
        **subsystem_settings(sandbox_urls), auth_anonymous="on", persisted_queries_only_callers=["anonymous"]
    ) as running:
        gateway = AuthGateway(running, clients_file, key_file)
        socket = await websockets.connect(ws_url(gateway), subprotocols=[Subprotocol("graphql-transport-ws")])
        await socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        await asyncio.wait_for(socket.recv(), 5)
        await socket.send(json.dumps(start_message("graphql-transport-ws", ALERTS)))
        message = await next_payload(socket)
        await socket.close()

    assert message["type"] == "error"
    assert message["payload"][0]["extensions"]["reason"] == "PERSISTED_QUERY_REQUIRED"

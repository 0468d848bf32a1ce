"""Audit records of mutations and denials, and no secret, token or Authorization header in any
log line the gateway writes."""

from __future__ import annotations

import base64
import json
import logging

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.auth.conftest import AuthGateway, find_alert

MUTATION = 'mutation Resolve($id: ID!) { resolveAlert(id: $id, actor: "ops") { status } }'


@pytest.fixture(scope="module")
async def resolved_alert(auth_gateway: AuthGateway) -> str:
    """A resolved alert: resolving it again is a no-op, so the shared sandbox stays as it was."""
    alert_id, _ = await find_alert(auth_gateway, "farm-001", "RESOLVED")
    return alert_id


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "fishwatch.audit"]


async def token_for(gateway: AuthGateway, scopes: str) -> tuple[str, str, str]:
    client = await gateway.register(scopes)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
    return str(response.json()["access_token"]), client.client_id, client.secret


async def test_mutation_audited(auth_gateway: AuthGateway, resolved_alert: str, caplog: pytest.LogCaptureFixture):
    token, client_id, _ = await token_for(auth_gateway, "alerts:write farms:read")
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{auth_gateway.url}/graphql",
            json={"query": MUTATION, "variables": {"id": resolved_alert}},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "audit-req-1"},
        )

    assert response.json()["data"]["resolveAlert"]["status"] == "RESOLVED"
    record = next(record for record in audit_lines(caplog) if record.getMessage().startswith("mutation"))
    assert f"caller=client:{client_id}" in record.getMessage()
    assert "operation=Resolve" in record.getMessage()
    assert "outcome=ok" in record.getMessage()
    assert "fields=resolveAlert" in record.getMessage()
    assert record.request_id == "audit-req-1"  # type: ignore[attr-defined]


async def test_forbidden_mutation_audited(
    auth_gateway: AuthGateway, resolved_alert: str, caplog: pytest.LogCaptureFixture
):
    token, client_id, _ = await token_for(auth_gateway, "farms:read")
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as http:
        await http.post(
            f"{auth_gateway.url}/graphql",
            json={"query": MUTATION, "variables": {"id": resolved_alert}},
            headers={"Authorization": f"Bearer {token}", "X-Request-ID": "audit-req-2"},
        )

    messages = [(record.getMessage(), record.request_id) for record in audit_lines(caplog)]  # type: ignore[attr-defined]
    assert (
        f"denied caller=client:{client_id} operation=Resolve outcome=denied reason=FORBIDDEN",
        "audit-req-2",
    ) in messages
    assert any("outcome=error:FORBIDDEN" in message for message, _ in messages)


async def test_rejected_token_audited(auth_gateway: AuthGateway, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient() as http:
        await http.post(
            f"{auth_gateway.url}/graphql",
            json={"query": "{ farms(first: 1) { totalCount } }"},
            headers={"Authorization": "Bearer a.b.c", "X-Request-ID": "audit-req-3"},
        )

    record = next(record for record in audit_lines(caplog) if record.request_id == "audit-req-3")  # type: ignore[attr-defined]
    assert (
        record.getMessage()
        == "denied caller=ip:127.0.0.1 operation=POST /graphql outcome=denied reason=UNAUTHENTICATED"
    )


def test_redact_credentials():
    from gateway.auth.redaction import redact

    text = (
        'Authorization: Bearer abcdefgh.ijklmnop.qrstuvwx {"authorization": "Basic dXNlcjpwYXNzd29yZA=="} '
        "grant_type=client_credentials&client_secret=s3cr3t-value&scope=a eyJhbGciOi.eyJzdWIiOiJ4In0.c2ln"
    )

    assert redact(text) == (
        'Authorization: Bearer [redacted] {"authorization": "[redacted]"} '
        "grant_type=client_credentials&client_secret=[redacted]&scope=a [redacted]"
    )


async def test_no_secret_in_logs(auth_gateway: AuthGateway, resolved_alert: str, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    client = await auth_gateway.register("farms:read alerts:write events:subscribe")
    secrets: list[str] = [client.secret, base64.b64encode(f"{client.client_id}:{client.secret}".encode()).decode()]
    url = f"{auth_gateway.url}"
    async with httpx.AsyncClient() as http:
        # Token requests by both methods, and with a wrong secret.
        basic = await http.post(
            f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
        posted = await http.post(
            f"{url}/oauth/token",
            data={"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": client.secret},
        )
        wrong_secret = "wrong-" + client.secret[:10]
        secrets.append(wrong_secret)
        await http.post(
            f"{url}/oauth/token", data={"grant_type": "client_credentials"}, auth=(client.client_id, wrong_secret)
        )
        tokens = [basic.json()["access_token"], posted.json()["access_token"]]
        secrets.extend(tokens)
        # Queries, a mutation, a forged token, introspection and revocation with real tokens.
        for token in tokens:
            await http.post(
                f"{url}/graphql",
                json={"query": MUTATION, "variables": {"id": resolved_alert}},
                headers={"Authorization": f"Bearer {token}"},
            )
        forged = tokens[0][:-8] + "AAAAAAAA"
        secrets.append(forged)
        await http.post(
            f"{url}/graphql",
            json={"query": MUTATION, "variables": {"id": resolved_alert}},
            headers={"Authorization": f"Bearer {forged}"},
        )
        await http.post(f"{url}/oauth/introspect", data={"token": tokens[0]}, auth=(client.client_id, client.secret))
        await http.post(f"{url}/oauth/revoke", data={"token": tokens[1]}, auth=(client.client_id, client.secret))
        await http.post(
            f"{url}/graphql",
            json={"query": MUTATION, "variables": {"id": resolved_alert}},
            headers={"Authorization": f"Bearer {tokens[1]}"},
        )
    # A WebSocket authenticated in connection_init, and one with a revoked token.
    for token in tokens:
        async with websockets.connect(
            url.replace("http", "ws") + "/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}))
            try:
                await socket.recv()
            except websockets.ConnectionClosed:
                pass

    gateway_records = [
        record for record in caplog.records if not record.name.startswith(("httpx", "httpcore", "websockets.client"))
    ]
    assert any(record.name == "fishwatch.audit" for record in gateway_records)
    for record in gateway_records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        for secret in secrets:
            assert secret not in text, f"{record.name} logged a secret or token: {record.getMessage()[:120]}"
        assert "Bearer ey" not in text

"""Liveness and readiness responses as an operator's probe receives them."""

from __future__ import annotations


async def test_healthz_ok(gateway, http):
    async with http.get(f"{gateway.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}


async def test_readyz_reports_event_bus(gateway, http):
    async with http.get(f"{gateway.url}/readyz") as response:
        body = await response.json()
        status = response.status

    assert status == 200
    assert body["status"] == "ready"
    assert body["event_bus"]["kind"] == "memory"
    assert body["event_bus"]["status"] == "ok"
    assert set(body["subsystems"]) == {"core", "acquisition", "fabric", "alerting", "mlflow"}

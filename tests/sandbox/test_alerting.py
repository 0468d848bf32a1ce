from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp

from sandbox.server import SandboxUrls


async def get_json(http: aiohttp.ClientSession, url: str, params: object = None) -> tuple[int, dict]:
    async with http.get(url, params=params) as response:
        return response.status, await response.json()


async def post_json(
    http: aiohttp.ClientSession, url: str, body: object, headers: dict | None = None
) -> tuple[int, dict]:
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def all_alerts(urls: SandboxUrls, http: aiohttp.ClientSession, params: list[tuple[str, str]]) -> list[dict]:
    items: list[dict] = []
    cursor = None
    while True:
        page_params = [*params, ("limit", "50")] + ([("cursor", cursor)] if cursor else [])
        status, body = await get_json(http, f"{urls.alerting}/v1/alerts", page_params)
        assert status == 200
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return items


async def test_alerts_newest_first_mixed(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    alerts = await all_alerts(urls, http, [])
    raised = [alert["raised_at"] for alert in alerts]
    assert raised == sorted(raised, reverse=True)
    assert {alert["status"] for alert in alerts} == {"open", "acknowledged", "resolved"}
    assert {"warning", "critical"} <= {alert["severity"] for alert in alerts}
    assert "history" not in alerts[0]


async def test_alerts_filtered_by_status(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    alerts = await all_alerts(urls, http, [("status", "open"), ("severity", "critical")])
    assert alerts
    for alert in alerts:
        assert alert["status"] == "open"
        assert alert["severity"] == "critical"
        assert alert["resolved_at"] is None


async def test_breach_alerts_match_readings(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    alerts = await all_alerts(urls, http, [("farm_id", "farm-005"), ("farm_id", "farm-020"), ("farm_id", "farm-040")])
    assert alerts
    for alert in alerts[:15]:
        params = {
            "enclosure_id": alert["enclosure_id"],
            "metric": alert["metric"],
            "from": alert["raised_at"],
            "limit": "1",
        }
        status, readings = await get_json(http, f"{urls.acquisition}/v1/readings", params)
        assert status == 200
        assert readings["items"][0] == {"time": alert["raised_at"], "value": alert["value"]}
        status, thresholds = await get_json(http, f"{urls.core}/v1/thresholds", {"enclosure_id": alert["enclosure_id"]})
        band = next(
            t for t in thresholds["items"] if (t["metric"], t["severity"]) == (alert["metric"], alert["severity"])
        )
        assert alert["threshold"] in (band["min"], band["max"])
        assert not band["min"] <= alert["value"] <= band["max"]


async def test_breach_starts_at_raised_at(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.alerting}/v1/alerts", {"severity": "warning", "limit": "5"})
    for alert in body["items"]:
        raised = datetime.fromisoformat(alert["raised_at"])
        before = (raised - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
        params = {
            "enclosure_id": alert["enclosure_id"],
            "metric": alert["metric"],
            "from": before,
            "to": alert["raised_at"],
        }
        status, readings = await get_json(http, f"{urls.acquisition}/v1/readings", params)
        assert status == 200
        for reading in readings["items"]:
            if alert["value"] < alert["threshold"]:
                assert reading["value"] >= alert["threshold"]
            else:
                assert reading["value"] <= alert["threshold"]


async def test_alert_detail_has_history(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    resolved = await all_alerts(urls, http, [("status", "resolved"), ("farm_id", "farm-010")])
    status, alert = await get_json(http, f"{urls.alerting}/v1/alerts/{resolved[0]['id']}")
    assert status == 200
    assert alert["history"][0]["status"] == "open"
    assert alert["history"][-1]["status"] == "resolved"
    assert alert["history"][-1]["actor"] == alert["resolved_by"]
    assert alert["resolved_at"] > alert["raised_at"]


async def test_alert_not_found(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.alerting}/v1/alerts/alr-999999")
    assert status == 404
    assert body == {"error": {"code": "NOT_FOUND", "message": "alert 'alr-999999' not found"}}


async def test_acknowledge_then_resolve(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    new_alert = {
        "farm_id": "farm-001",
        "enclosure_id": "enc-001-01",
        "metric": "dissolved_oxygen",
        "value": 5.4,
        "threshold": 6.0,
        "severity": "warning",
        "message": "Dissolved oxygen 5.4 mg/L is below the warning minimum 6 mg/L",
    }
    status, alert = await post_json(http, f"{urls.alerting}/v1/alerts", new_alert, {"Idempotency-Key": "ack-flow"})
    assert status == 201
    assert alert["status"] == "open"
    alert_url = f"{urls.alerting}/v1/alerts/{alert['id']}"

    status, acknowledged = await post_json(http, f"{alert_url}/acknowledge", {"actor": "ingrid.berg", "note": "On it"})
    assert status == 200
    assert acknowledged["status"] == "acknowledged"
    assert acknowledged["acknowledged_by"] == "ingrid.berg"
    status, again = await post_json(http, f"{alert_url}/acknowledge", {"actor": "ola.haugland"})
    assert status == 200
    assert again["acknowledged_by"] == "ingrid.berg"
    assert len(again["history"]) == 2

    status, resolved = await post_json(http, f"{alert_url}/resolve", {"actor": "ingrid.berg"})
    assert status == 200
    assert resolved["status"] == "resolved"
    assert [event["status"] for event in resolved["history"]] == ["open", "acknowledged", "resolved"]
    status, error = await post_json(http, f"{alert_url}/acknowledge", {"actor": "ola.haugland"})
    assert status == 409
    assert error["error"]["code"] == "CONFLICT"


async def test_create_alert_invalid_severity(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {
        "farm_id": "farm-001",
        "enclosure_id": "enc-001-01",
        "metric": "ph",
        "value": 7.1,
        "threshold": 7.6,
        "severity": "urgent",
        "message": "pH low",
    }
    status, error = await post_json(http, f"{urls.alerting}/v1/alerts", body)
    assert status == 400
    assert error["error"]["message"] == "field 'severity': 'urgent' is not one of: info, warning, critical"


async def test_acknowledge_requires_actor(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, error = await post_json(http, f"{urls.alerting}/v1/alerts/alr-000001/acknowledge", {"note": "x"})
    assert status == 400
    assert "field 'actor'" in error["error"]["message"]

"""`POST /events`: CloudEvents over HTTP in structured and binary mode, and bad input."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from subscriptions.events import CloudEvent
from tests.gateway_process import RunningGateway
from tests.subscriptions.conftest import alert_event

STRUCTURED = {"content-type": "application/cloudevents+json"}


async def post(
    http: aiohttp.ClientSession, gateway: RunningGateway, body: bytes | str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    async with http.post(f"{gateway.url}/events", data=body, headers=headers) as response:
        return response.status, await response.json()


async def retained(gateway: RunningGateway, position: str) -> CloudEvent:
    """Read the event stored at `position` back from the bus's replay stream."""
    milliseconds, sequence = (int(part) for part in position.split("-"))
    previous = f"{milliseconds}-{sequence - 1}" if sequence else f"{milliseconds - 1}-{2**64 - 1}"
    deliveries = await gateway.services.bus.read_after(previous, 1)
    assert [delivery.position for delivery in deliveries] == [position]
    return deliveries[0].event


async def test_structured_mode_accepted(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    event = alert_event("a1")
    status, body = await post(http, bus_gateway, json.dumps(event), STRUCTURED)
    assert status == 202
    assert body["id"] == event["id"]
    stored = await retained(bus_gateway, body["position"])
    assert stored.id == event["id"]
    assert stored.farmid == "farm-001"
    assert stored.data == event["data"]


async def test_binary_mode_accepted(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": "bin-1",
        "ce-source": "/tests/binary",
        "ce-type": "com.fishwatch.device.status.changed",
        "ce-time": "2026-12-01T06:00:00Z",
        "ce-subject": "probe%207",
        "ce-farmid": "farm-003",
    }
    data = {"deviceId": "probe 7", "status": "degraded"}
    status, body = await post(http, bus_gateway, json.dumps(data), headers)
    assert status == 202
    assert body["id"] == "bin-1"
    stored = await retained(bus_gateway, body["position"])
    assert stored.subject == "probe 7"
    assert stored.farmid == "farm-003"
    assert stored.data == data


@pytest.mark.parametrize(
    ("change", "attribute", "fragment"),
    [
        ({"specversion": "0.3"}, "specversion", "'0.3' is not supported"),
        ({"type": "com.example.other"}, "type", "not a Fish Watch type"),
        ({"farmid": None}, "farmid", "required on alert events"),
        ({"data": {"severity": "critical"}}, "data.alertId", "is missing"),
        ({"data": {"alertId": "a", "severity": "dire"}}, "data.severity", "expected one of info, warning, critical"),
        ({"type": "com.fishwatch.alert.snoozed"}, "type", "not an alert type"),
        ({"time": "yesterday"}, "time", "time"),
    ],
)
async def test_structured_mode_rejects(
    bus_gateway: RunningGateway, http: aiohttp.ClientSession, change: dict[str, Any], attribute: str, fragment: str
) -> None:
    event = {**alert_event("a1"), **change}
    event = {key: value for key, value in event.items() if value is not None}
    status, body = await post(http, bus_gateway, json.dumps(event), STRUCTURED)
    assert status == 400
    assert body["error"]["code"] == "EVENT_INVALID"
    assert body["error"]["attribute"] == attribute
    assert fragment in body["error"]["message"]


async def test_invalid_json_rejected(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, bus_gateway, "{nope", STRUCTURED)
    assert status == 400
    assert body["error"]["code"] == "EVENT_INVALID"
    assert "not valid JSON" in body["error"]["message"]


async def test_unknown_content_mode_rejected(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, bus_gateway, "x", {"content-type": "text/plain"})
    assert status == 415
    assert body["error"]["code"] == "UNSUPPORTED_MEDIA_TYPE"
    assert "application/cloudevents+json" in body["error"]["message"]


async def test_batch_mode_rejected(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    status, body = await post(http, bus_gateway, "[]", {"content-type": "application/cloudevents-batch+json"})
    assert status == 415
    assert "batched mode is not supported" in body["error"]["message"]


async def test_oversized_event_rejected(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    event = alert_event("big")
    event["data"]["message"] = "x" * (bus_gateway.settings.event_max_bytes + 1)
    status, body = await post(http, bus_gateway, json.dumps(event), STRUCTURED)
    assert status == 413
    assert body["error"]["code"] == "EVENT_TOO_LARGE"

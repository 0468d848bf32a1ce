"""GraphQL subscriptions over WebSocket, driven by the `gql` client on both protocols."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from graphql import DocumentNode

from subscriptions.events import CloudEvent
from tests.gateway_process import RunningGateway
from tests.subscriptions.conftest import alert_event, post_event, subscriber_count, wait_until, ws_url

PROTOCOLS = [WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL, WebsocketsTransport.APOLLO_SUBPROTOCOL]

ALERTS = gql(
    """
    subscription Alerts($farm: ID, $min: AlertSeverity! = INFO, $after: String) {
      alerts(farmId: $farm, minSeverity: $min, after: $after) {
        position alertId change severity farmId enclosureId message
      }
    }
    """
)


async def next_of(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    return await asyncio.wait_for(anext(stream), 10)


@contextlib.asynccontextmanager
async def subscribed(
    gateway: RunningGateway, query: DocumentNode, variables: dict[str, Any], protocol: str = PROTOCOLS[0]
) -> AsyncIterator[AsyncGenerator[dict[str, Any], None]]:
    """Subscribe with gql; closing the stream first lets gql close the socket without waiting."""
    transport = WebsocketsTransport(url=ws_url(gateway), subprotocols=[protocol])
    async with Client(transport=transport) as session:
        stream = session.subscribe(query, variable_values=variables)
        try:
            yield stream
        finally:
            await stream.aclose()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_alerts_live(bus_gateway: RunningGateway, http: aiohttp.ClientSession, protocol: str) -> None:
    before = subscriber_count(bus_gateway, "com.fishwatch.alert.")
    async with subscribed(bus_gateway, ALERTS, {"farm": "farm-001", "min": "WARNING"}, protocol) as stream:
        first = asyncio.ensure_future(next_of(stream))
        await wait_until(
            lambda: subscriber_count(bus_gateway, "com.fishwatch.alert.") >= before + 1,
            what="the subscription to attach",
        )
        await post_event(http, bus_gateway, alert_event("a-info", severity="info"))
        await post_event(http, bus_gateway, alert_event("a-other-farm", farm="farm-002"))
        position = await post_event(http, bus_gateway, alert_event("a-warn"))
        received = (await first)["alerts"]
        assert received == {
            "position": position,
            "alertId": "a-warn",
            "change": "RAISED",
            "severity": "WARNING",
            "farmId": "farm-001",
            "enclosureId": "enc-001-01",
            "message": "alert a-warn",
        }


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resume_after_position(bus_gateway: RunningGateway, http: aiohttp.ClientSession, protocol: str) -> None:
    positions = [await post_event(http, bus_gateway, alert_event(f"a{number}")) for number in range(4)]
    async with subscribed(bus_gateway, ALERTS, {"farm": "farm-001", "after": positions[1]}, protocol) as stream:
        replayed = [(await next_of(stream))["alerts"]["alertId"] for _ in range(2)]
        assert replayed == ["a2", "a3"]
        live_position = await post_event(http, bus_gateway, alert_event("a4"))
        live = (await next_of(stream))["alerts"]
        assert live["alertId"] == "a4"
        assert live["position"] == live_position


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_resume_expired_error(bus_gateway: RunningGateway, http: aiohttp.ClientSession, protocol: str) -> None:
    await post_event(http, bus_gateway, alert_event("a0"))
    async with subscribed(bus_gateway, ALERTS, {"after": "1-0"}, protocol) as stream:
        with pytest.raises(TransportQueryError) as caught:
            await next_of(stream)
    assert caught.value.errors is not None
    extensions = caught.value.errors[0]["extensions"]
    assert extensions["code"] == "RESUME_POSITION_EXPIRED"
    assert extensions["position"] == "1-0"
    assert "older than the retained events" in caught.value.errors[0]["message"]


async def test_resume_malformed_error(bus_gateway: RunningGateway) -> None:
    async with subscribed(bus_gateway, ALERTS, {"after": "last tuesday"}) as stream:
        with pytest.raises(TransportQueryError) as caught:
            await next_of(stream)
    assert caught.value.errors is not None
    assert caught.value.errors[0]["extensions"]["code"] == "RESUME_POSITION_INVALID"


async def test_events_feed_by_type_and_farm(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    start = await post_event(http, bus_gateway, alert_event("start"))
    query = gql(
        """
        subscription($after: String) {
          events(types: ["com.fishwatch.device."], farmIds: ["farm-002"], after: $after) {
            id type source subject farmId enclosureId data position
          }
        }
        """
    )
    device = {
        "specversion": "1.0",
        "id": "dev-1",
        "source": "/tests/devices",
        "type": "com.fishwatch.device.status.changed",
        "time": "2026-12-01T06:00:00Z",
        "subject": "probe-7",
        "farmid": "farm-002",
        "data": {"deviceId": "probe-7", "status": "offline", "previousStatus": "online"},
    }
    async with subscribed(bus_gateway, query, {"after": start}) as stream:
        await post_event(http, bus_gateway, {**device, "id": "dev-0", "farmid": "farm-001"})
        await post_event(http, bus_gateway, alert_event("x", farm="farm-002"))
        position = await post_event(http, bus_gateway, device)
        received = (await next_of(stream))["events"]
    assert received == {
        "id": "dev-1",
        "type": "com.fishwatch.device.status.changed",
        "source": "/tests/devices",
        "subject": "probe-7",
        "farmId": "farm-002",
        "enclosureId": None,
        "data": {"deviceId": "probe-7", "status": "offline", "previousStatus": "online"},
        "position": position,
    }


async def test_telemetry_filters_metrics(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    start = await post_event(http, bus_gateway, alert_event("start"))
    query = gql(
        """
        subscription($after: String) {
          telemetry(farmId: "farm-001", enclosureIds: ["enc-001-02"], metrics: ["temperature"], after: $after) {
            farmId enclosureId deviceId measuredAt values { metric value }
          }
        }
        """
    )

    def reading(enclosure: str, metrics: dict[str, float]) -> dict[str, Any]:
        return {
            "specversion": "1.0",
            "id": f"r-{enclosure}-{len(metrics)}",
            "source": "/tests/devices/s1",
            "type": "com.fishwatch.telemetry.reading",
            "time": "2026-12-01T06:00:01Z",
            "farmid": "farm-001",
            "enclosureid": enclosure,
            "data": {"deviceId": "s1", "measuredAt": "2026-12-01T06:00:00Z", "metrics": metrics},
        }

    async with subscribed(bus_gateway, query, {"after": start}) as stream:
        await post_event(http, bus_gateway, reading("enc-001-01", {"temperature": 9.0}))
        await post_event(http, bus_gateway, reading("enc-001-02", {"ph": 7.9}))
        await post_event(http, bus_gateway, reading("enc-001-02", {"temperature": 11.5, "ph": 7.8}))
        received = (await next_of(stream))["telemetry"]
    assert received == {
        "farmId": "farm-001",
        "enclosureId": "enc-001-02",
        "deviceId": "s1",
        "measuredAt": "2026-12-01T06:00:00+00:00",
        "values": [{"metric": "temperature", "value": 11.5}],
    }


async def test_workflow_run_completes(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    bus = bus_gateway.services.bus

    def transition(kind: str, state: str, run_id: str, step: str | None = None) -> CloudEvent:
        data = {"runId": run_id, **({"stepId": step} if step else {})}
        return CloudEvent.new(f"com.fishwatch.workflow.{kind}.{state}", "/workflows", data, subject=run_id)

    start = await bus.publish(transition("run", "started", "run-0"))
    query = gql(
        """
        subscription($after: String) {
          workflowRun(runId: "run-1", after: $after) { runId stepId state type }
        }
        """
    )
    async with Client(transport=WebsocketsTransport(url=ws_url(bus_gateway))) as session:
        await bus.publish(transition("run", "started", "run-1"))
        await bus.publish(transition("step", "started", "run-2", "s1"))
        await bus.publish(transition("step", "succeeded", "run-1", "notify"))
        await bus.publish(transition("run", "succeeded", "run-1"))
        await bus.publish(transition("run", "started", "run-1-never"))
        received = [
            result["workflowRun"] async for result in session.subscribe(query, variable_values={"after": start})
        ]
    assert received == [
        {"runId": "run-1", "stepId": None, "state": "started", "type": "com.fishwatch.workflow.run.started"},
        {"runId": "run-1", "stepId": "notify", "state": "succeeded", "type": "com.fishwatch.workflow.step.succeeded"},
        {"runId": "run-1", "stepId": None, "state": "succeeded", "type": "com.fishwatch.workflow.run.succeeded"},
    ]


async def test_too_many_filter_values(bus_gateway: RunningGateway) -> None:
    query = gql("subscription($farms: [ID!]) { events(farmIds: $farms) { id } }")
    async with subscribed(bus_gateway, query, {"farms": [f"f{n}" for n in range(101)]}) as stream:
        with pytest.raises(TransportQueryError) as caught:
            await next_of(stream)
    assert caught.value.errors is not None
    assert caught.value.errors[0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "at most 100" in caught.value.errors[0]["message"]

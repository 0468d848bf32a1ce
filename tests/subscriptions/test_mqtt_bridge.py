"""The MQTT telemetry bridge against a real Mosquitto broker and a real Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import aiomqtt
import pytest
from gql import Client, gql
from gql.transport.websockets import WebsocketsTransport
from redis.asyncio import Redis

from sandbox.server import SandboxUrls
from subscriptions.bus import BusOptions, EventBus, open_event_bus
from subscriptions.channels import dead_letter_key
from subscriptions.events import TELEMETRY_READING
from subscriptions.mqtt_bridge import MqttBridge, MqttOptions
from tests.conftest import subsystem_settings
from tests.gateway_process import serve_gateway
from tests.peers import PeerProcess
from tests.subscriptions.conftest import alert_event, post_event, wait_until, ws_url

TOPIC = "fishwatch/farm-001/enc-001-01/probe-1/telemetry"


def broker_address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("mqtt://").split(":")
    return host, int(port)


async def send(url: str, topic: str, payload: bytes | str) -> None:
    host, port = broker_address(url)
    async with aiomqtt.Client(host, port, identifier=f"test-device-{uuid.uuid4().hex[:6]}") as client:
        await client.publish(topic, payload, qos=1)


@pytest.fixture
async def redis_bus(redis_url: str) -> AsyncIterator[EventBus]:
    bus = await open_event_bus(redis_url, BusOptions(key_prefix=f"fwtest-{uuid.uuid4().hex[:12]}"))
    yield bus
    await bus.close()


@pytest.fixture
async def bridge(mqtt_peer: tuple[str, PeerProcess | None], redis_bus: EventBus) -> AsyncIterator[MqttBridge]:
    url, _ = mqtt_peer
    # A group of its own, so bridges of other tests on the same broker do not share the messages.
    running = MqttBridge(
        MqttOptions(url=url, shared_group=f"g{uuid.uuid4().hex[:8]}", backoff_base_s=0.05, backoff_max_s=0.5),
        redis_bus,
    )
    running.start()
    await asyncio.wait_for(running.connected.wait(), 10)
    yield running
    await running.close()


async def dead_letters(redis_url: str, bus: EventBus) -> list[dict[str, str]]:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = await client.xrange(dead_letter_key(bus.options.key_prefix))
    finally:
        await client.aclose()
    return [fields for _, fields in entries]


async def test_valid_message_becomes_event(
    mqtt_peer: tuple[str, PeerProcess | None], redis_bus: EventBus, bridge: MqttBridge
) -> None:
    async with redis_bus.subscribe(types=[TELEMETRY_READING], farm_ids=["farm-001"]) as subscription:
        await send(mqtt_peer[0], TOPIC, json.dumps({"timestamp": "2026-12-01T06:00:00Z", "temperature": 11.25}))
        event = await asyncio.wait_for(anext(subscription), 10)
    assert event.type == TELEMETRY_READING
    assert event.farmid == "farm-001"
    assert event.enclosureid == "enc-001-01"
    assert event.subject == "probe-1"
    assert event.data == {
        "deviceId": "probe-1",
        "measuredAt": "2026-12-01T06:00:00Z",
        "metrics": {"temperature": 11.25},
    }
    assert bridge.accepted == 1


BAD_MESSAGES: list[tuple[str, Any, str]] = [
    (TOPIC, b"{not json", "invalid_json"),
    (TOPIC, json.dumps({"temperature": 11.0}), "missing_timestamp"),
    (TOPIC, json.dumps({"timestamp": "yesterday", "ph": 7.0}), "invalid_timestamp"),
    (TOPIC, json.dumps({"timestamp": 1764568800, "metrics": {"ph": "high"}}), "invalid_metric"),
    (TOPIC, json.dumps({"timestamp": 1764568800}), "missing_metrics"),
    ("fishwatch/farm-001//probe-1/telemetry", json.dumps({"timestamp": 1764568800, "ph": 7}), "invalid_topic"),
    (TOPIC, json.dumps({"timestamp": 1764568800, "note": "x" * 70_000}), "payload_too_large"),
]


async def test_bad_messages_dead_lettered(
    redis_url: str, mqtt_peer: tuple[str, PeerProcess | None], redis_bus: EventBus, bridge: MqttBridge
) -> None:
    async with redis_bus.subscribe(types=[TELEMETRY_READING]) as subscription:
        for topic, payload, _ in BAD_MESSAGES:
            await send(mqtt_peer[0], topic, payload)
        # The bridge keeps going: a good message after the bad ones still arrives.
        await send(mqtt_peer[0], TOPIC, json.dumps({"timestamp": 1764568800, "metrics": {"ph": 7.4}}))
        event = await asyncio.wait_for(anext(subscription), 10)
    assert event.data is not None
    assert event.data["metrics"] == {"ph": 7.4}
    assert dict(bridge.rejected) == {reason: 1 for _, _, reason in BAD_MESSAGES}
    letters = await dead_letters(redis_url, redis_bus)
    assert [letter["reason"].split(":")[0] for letter in letters] == [reason for _, _, reason in BAD_MESSAGES]
    assert letters[0]["source"] == TOPIC
    assert letters[0]["payload"] == "{not json"
    assert "not valid JSON" in letters[0]["reason"]


async def test_reconnects_after_broker_restart(
    mqtt_peer: tuple[str, PeerProcess | None], redis_bus: EventBus, bridge: MqttBridge
) -> None:
    url, broker = mqtt_peer
    if broker is None:
        pytest.skip("the broker comes from FISHWATCH_TEST_MQTT_URL, so this test cannot restart it")
    connections = bridge.connections
    broker.restart()
    await wait_until(
        lambda: bridge.connections > connections and bridge.connected.is_set(), 20, "the bridge to reconnect"
    )
    async with redis_bus.subscribe(types=[TELEMETRY_READING]) as subscription:
        await send(url, TOPIC, json.dumps({"timestamp": 1764568800, "metrics": {"salinity": 33.1}}))
        event = await asyncio.wait_for(anext(subscription), 10)
    assert event.data is not None
    assert event.data["metrics"] == {"salinity": 33.1}


async def test_gateway_mqtt_to_graphql(
    redis_url: str, mqtt_peer: tuple[str, PeerProcess | None], sandbox_urls: SandboxUrls, http: aiohttp.ClientSession
) -> None:
    """A device message reaches a dashboard's telemetry subscription through a running gateway."""
    async with serve_gateway(
        redis_url=redis_url,
        redis_key_prefix=f"fwtest-{uuid.uuid4().hex[:12]}",
        mqtt_url=mqtt_peer[0],
        mqtt_shared_group=f"g{uuid.uuid4().hex[:8]}",
        **subsystem_settings(sandbox_urls),
    ) as gateway:
        bridge: MqttBridge = gateway.services.extras["eventing"].bridge
        await asyncio.wait_for(bridge.connected.wait(), 10)
        start = await post_event(http, gateway, alert_event("marker"))
        query = gql(
            """
            subscription($after: String) {
              telemetry(farmId: "farm-001", after: $after) { enclosureId deviceId values { metric value } }
            }
            """
        )
        async with Client(transport=WebsocketsTransport(url=ws_url(gateway))) as session:
            stream = session.subscribe(query, variable_values={"after": start})
            await send(mqtt_peer[0], TOPIC, json.dumps({"timestamp": 1764568800, "temperature": 12.5}))
            result = await asyncio.wait_for(anext(stream), 10)
            await stream.aclose()
    assert result["telemetry"] == {
        "enclosureId": "enc-001-01",
        "deviceId": "probe-1",
        "values": [{"metric": "temperature", "value": 12.5}],
    }

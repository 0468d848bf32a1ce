"""Several gateway processes on one Redis, a Redis restart, and shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import websockets
from redis.asyncio import Redis

from sandbox.server import SandboxUrls
from tests.conftest import subsystem_settings
from tests.peers import free_port, running_redis
from tests.subscriptions.conftest import alert_event

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0
ALERTS_FARM_1 = 'subscription { alerts(farmId: "farm-001") { alertId position } }'


@dataclass
class GatewayProcess:
    """A `fishwatch serve` subprocess on a free loopback port."""

    process: asyncio.subprocess.Process
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/graphql"


@contextlib.asynccontextmanager
async def gateway_process(settings: dict[str, Any], log_path: Path) -> AsyncIterator[GatewayProcess]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("FISHWATCH_")}
    env.update({f"FISHWATCH_{key.upper()}": str(value) for key, value in settings.items()})
    env["FISHWATCH_AUTH_ANONYMOUS"] = "on"
    with log_path.open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
            cwd=REPO, env=env, stdout=log, stderr=log,
        )  # fmt: skip
    running = GatewayProcess(process, port)
    try:
        await _wait_ready(running, log_path)
        yield running
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()


def _tail(log_path: Path) -> str:
    return log_path.read_text(errors="replace")[-3000:]


async def _wait_ready(gateway: GatewayProcess, log_path: Path) -> None:
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while True:
            if gateway.process.returncode is not None:
                raise AssertionError(f"gateway exited with {gateway.process.returncode}: {_tail(log_path)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{gateway.url}/healthz") as response:
                    if response.status == 200:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"gateway not ready in {START_TIMEOUT_S} s: {_tail(log_path)}")
            await asyncio.sleep(0.1)


class TransportWsClient:
    """A minimal graphql-transport-ws client that shows every frame, close codes included."""

    def __init__(self, connection: websockets.ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def subscribe(cls, url: str, query: str) -> TransportWsClient:
        connection = await websockets.connect(url, subprotocols=[websockets.Subprotocol("graphql-transport-ws")])
        await connection.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(connection.recv(), 10))["type"] == "connection_ack"
        await connection.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}))
        return cls(connection)

    async def next_result(self) -> dict[str, Any]:
        message = json.loads(await asyncio.wait_for(self.connection.recv(), 15))
        assert message["type"] == "next", message
        data: dict[str, Any] = message["payload"]["data"]
        return data


async def channel_subscribers(redis_url: str, channel: str) -> int:
    client = Redis.from_url(redis_url)
    try:
        counts = await client.pubsub_numsub(channel)
    finally:
        await client.aclose()
    return int(counts[0][1])


async def wait_for_channel(redis_url: str, channel: str, count: int, timeout_s: float = 15.0) -> None:
    """Wait until `count` connections subscribe to `channel`, which means the subscription is live."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        with contextlib.suppress(OSError, ConnectionError):
            if await channel_subscribers(redis_url, channel) == count:
                return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{channel} did not reach {count} subscribers in {timeout_s} s")
        await asyncio.sleep(0.05)


async def post(http: aiohttp.ClientSession, url: str, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with http.post(
        f"{url}/events", data=json.dumps(event), headers={"content-type": "application/cloudevents+json"}
    ) as response:
        return response.status, await response.json()


async def test_event_crosses_replicas(
    redis_url: str, sandbox_urls: SandboxUrls, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    prefix = f"fwtest-{uuid.uuid4().hex[:12]}"
    settings = {"redis_url": redis_url, "redis_key_prefix": prefix, **subsystem_settings(sandbox_urls)}
    async with (
        gateway_process(settings, tmp_path / "a.log") as replica_a,
        gateway_process(settings, tmp_path / "b.log") as replica_b,
    ):
        client = await TransportWsClient.subscribe(replica_a.ws_url, ALERTS_FARM_1)
        others = [
            await TransportWsClient.subscribe(replica_a.ws_url, query)
            for query in (
                'subscription { telemetry(farmId: "farm-002") { deviceId } }',
                'subscription { events(types: ["com.fishwatch.model."]) { id } }',
            )
        ]
        await wait_for_channel(redis_url, f"{prefix}:events:alert:farm-001", 1)
        await wait_for_channel(redis_url, f"{prefix}:events:telemetry:farm-002", 1)
        # Each replica multiplexes every channel and pattern over one subscriber connection.
        assert await _subscriber_connections(redis_url, prefix) == 2

        status, body = await post(http, replica_b.url, alert_event("via-b"))
        assert status == 202
        received = (await client.next_result())["alerts"]
        assert received == {"alertId": "via-b", "position": body["position"]}
        for connection in (client, *others):
            await connection.connection.close()


async def _subscriber_connections(redis_url: str, prefix: str) -> int:
    """Count the bus connections in subscribed mode, checking each is on this prefix's control channel."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        clients = await redis.client_list()
        control = await redis.pubsub_numsub(f"{prefix}:bus-control")
    finally:
        await redis.aclose()
    subscribed = [
        client
        for client in clients
        if client.get("name") == "fishwatch-event-bus" and int(client["sub"]) + int(client["psub"]) > 0
    ]
    assert int(control[0][1]) == len(subscribed)
    return len(subscribed)


async def test_subscriptions_survive_redis_restart(
    redis_url: str, sandbox_urls: SandboxUrls, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    session_redis_url = redis_url
    with running_redis() as redis_peer:
        redis_url = f"redis://127.0.0.1:{redis_peer.port}/0"
        prefix = "fwrestart"
        settings = {
            "redis_url": redis_url,
            "redis_key_prefix": prefix,
            "redis_reconnect_backoff_max_s": 0.5,
            "redis_socket_timeout_s": 2,
            # Rate-limit counters stay on the session's Redis: this test is about the event bus.
            "auth_redis_url": session_redis_url,
            **subsystem_settings(sandbox_urls),
        }
        async with gateway_process(settings, tmp_path / "gateway.log") as gateway:
            client = await TransportWsClient.subscribe(gateway.ws_url, ALERTS_FARM_1)
            channel = f"{prefix}:events:alert:farm-001"
            await wait_for_channel(redis_url, channel, 1)
            status, _ = await post(http, gateway.url, alert_event("before-restart"))
            assert status == 202
            assert (await client.next_result())["alerts"]["alertId"] == "before-restart"

            await asyncio.to_thread(redis_peer.stop)
            # Queries keep working while Redis is down; publishing reports the outage with a code.
            async with http.post(f"{gateway.url}/graphql", json={"query": "{ __typename }"}) as response:
                assert response.status == 200
                assert (await response.json())["data"] == {"__typename": "Query"}
            status, body = await post(http, gateway.url, alert_event("while-down"))
            assert status == 503
            assert body["error"]["code"] == "EVENT_BUS_UNAVAILABLE"

            await asyncio.to_thread(redis_peer.start)
            await wait_for_channel(redis_url, channel, 1)
            status, body = await post(http, gateway.url, alert_event("after-restart"))
            assert status == 202
            received = (await client.next_result())["alerts"]
            assert received == {"alertId": "after-restart", "position": body["position"]}
            async with http.post(f"{gateway.url}/graphql", json={"query": "{ __typename }"}) as response:
                assert response.status == 200
            await client.connection.close()


async def test_sigterm_closes_subscriptions(redis_url: str, sandbox_urls: SandboxUrls, tmp_path: Path) -> None:
    prefix = f"fwtest-{uuid.uuid4().hex[:12]}"
    settings = {"redis_url": redis_url, "redis_key_prefix": prefix, **subsystem_settings(sandbox_urls)}
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        before = await _bus_connections(redis)
        async with gateway_process(settings, tmp_path / "gateway.log") as gateway:
            client = await TransportWsClient.subscribe(gateway.ws_url, ALERTS_FARM_1)
            await wait_for_channel(redis_url, f"{prefix}:events:alert:farm-001", 1)
            assert await _bus_connections(redis) > before

            gateway.process.send_signal(signal.SIGTERM)
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(client.connection.recv(), 15)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012  # service restart, RFC 6455 section 7.4.1 registry
            # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit reflects the signal.
            assert await asyncio.wait_for(gateway.process.wait(), 20) == -signal.SIGTERM
            with pytest.raises(OSError):
                await websockets.connect(gateway.ws_url, open_timeout=2)
        assert await _bus_connections(redis) == before
        log = (tmp_path / "gateway.log").read_text()
        assert "event bus closed (redis)" in log
        assert "Application shutdown complete" in log
    finally:
        await redis.aclose()


async def _bus_connections(redis: Redis) -> int:
    clients = await redis.client_list()
    return sum(1 for client in clients if client.get("name") == "fishwatch-event-bus")

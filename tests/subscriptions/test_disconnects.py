"""A client that drops its connection while the gateway writes to it is released quietly."""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from collections.abc import AsyncIterator

import pytest

from sandbox.server import SandboxUrls
from subscriptions.events import CloudEvent
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway
from tests.subscriptions.conftest import subscriber_count, wait_until
from tests.subscriptions.test_slow_consumer import PADDING, StallingClient, open_client, read_all

EVENTS = 80
CAMERA = "com.fishwatch.camera."


@pytest.fixture
async def memory_gateway(sandbox_urls: SandboxUrls) -> AsyncIterator[RunningGateway]:
    async with serve_gateway(redis_url=None, **subsystem_settings(sandbox_urls)) as running:
        yield running


def camera_event(number: int, padding: str = "") -> CloudEvent:
    data = {"n": number, "padding": padding} if padding else {"n": number}
    return CloudEvent.new("com.fishwatch.camera.observation", "/tests", data, farm_id="farm-001")


def reset(client: StallingClient) -> None:
    """Close the client's socket with a TCP reset, as a client that crashes or loses its network does."""
    sock = client.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.writer.transport.abort()


async def test_reset_during_send_releases_quietly(
    memory_gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    bus = memory_gateway.services.bus
    client = await StallingClient.connect(memory_gateway)
    await wait_until(lambda: subscriber_count(memory_gateway, CAMERA) == 1, what="the subscription to start")

    # The client reads nothing, so the loopback buffers fill and the gateway blocks in a send.
    caplog.set_level(logging.DEBUG)
    for number in range(EVENTS):
        await bus.publish(camera_event(number, PADDING))
    await asyncio.sleep(0.5)
    reset(client)
    await wait_until(lambda: subscriber_count(memory_gateway, CAMERA) == 0, what="the subscription to end")
    await asyncio.sleep(0.2)

    tracebacks = [record for record in caplog.records if record.exc_info is not None]
    assert [record.getMessage() for record in tracebacks] == []

    # The gateway keeps serving other subscribers.
    other = await open_client(memory_gateway)
    try:
        await wait_until(lambda: subscriber_count(memory_gateway, CAMERA) == 1, what="a new subscription to start")
        for number in range(3):
            await bus.publish(camera_event(number))
        await read_all(other, 3)
    finally:
        await other.close()

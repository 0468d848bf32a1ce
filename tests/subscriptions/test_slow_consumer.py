"""A client that stops reading is closed with code 4507 while other clients keep receiving."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator

import pytest
import websockets
from websockets.client import ClientProtocol
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.typing import Subprotocol
from websockets.uri import parse_uri

from sandbox.server import SandboxUrls
from subscriptions.errors import SubscriberTooSlowError
from subscriptions.events import CloudEvent
from tests.conftest import subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway
from tests.subscriptions.conftest import subscriber_count, wait_until, ws_url

QUEUE_BOUND = 20
EVENTS = 300
# Big events fill the loopback socket buffers quickly, so the stalled client blocks the server's writes.
PADDING = "x" * 60_000
CAMERA = "com.fishwatch.camera."
QUERY = 'subscription { events(types: ["com.fishwatch.camera."]) { id data } }'


@pytest.fixture
async def small_queue_gateway(redis_url: str, sandbox_urls: SandboxUrls) -> AsyncIterator[RunningGateway]:
    async with serve_gateway(
        redis_url=redis_url,
        redis_key_prefix=f"fwtest-{uuid.uuid4().hex[:12]}",
        subscriber_max_queued_events=QUEUE_BOUND,
        **subsystem_settings(sandbox_urls),
    ) as running:
        yield running


class StallingClient:
    """A graphql-transport-ws client over a bare socket that reads only when the test calls it.

    It speaks WebSocket through the sans-I/O protocol of `websockets`, so nothing reads the socket
    in the background: once the kernel buffers fill, the server's writes block.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, protocol: ClientProtocol) -> None:
        self.reader = reader
        self.writer = writer
        self.protocol = protocol
        self.pending: deque[Frame] = deque()

    @classmethod
    async def connect(cls, gateway: RunningGateway) -> StallingClient:
        port = int(gateway.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=4096)
        protocol = ClientProtocol(parse_uri(ws_url(gateway)), subprotocols=[Subprotocol("graphql-transport-ws")])
        client = cls(reader, writer, protocol)
        protocol.send_request(protocol.connect())
        await client.flush()
        while protocol.state is not State.OPEN:
            data = await asyncio.wait_for(reader.read(65_536), 10)
            assert data, "the server closed the connection during the handshake"
            protocol.receive_data(data)
        protocol.events_received()
        await client.send({"type": "connection_init"})
        assert (await client.next_message())["type"] == "connection_ack"
        await client.send({"id": "1", "type": "subscribe", "payload": {"query": QUERY}})
        return client

    async def flush(self) -> None:
        for chunk in self.protocol.data_to_send():
            self.writer.write(chunk)
        await self.writer.drain()

    async def send(self, message: dict[str, object]) -> None:
        self.protocol.send_text(json.dumps(message).encode())
        await self.flush()

    async def next_frame(self) -> Frame | None:
        """Return the next data or close frame; None at end of stream."""
        while True:
            self.pending.extend(
                event
                for event in self.protocol.events_received()
                if isinstance(event, Frame) and event.opcode in (Opcode.TEXT, Opcode.CLOSE)
            )
            if self.pending:
                return self.pending.popleft()
            data = await asyncio.wait_for(self.reader.read(65_536), 30)
            if not data:
                return None
            self.protocol.receive_data(data)

    async def next_message(self) -> dict[str, object]:
        frame = await self.next_frame()
        assert frame is not None and frame.opcode == Opcode.TEXT
        decoded: dict[str, object] = json.loads(frame.data)
        return decoded

    async def read_until_close(self) -> tuple[int, Close]:
        """Read on until the close frame; return how many results came before it, and the frame."""
        results = 0
        while True:
            frame = await self.next_frame()
            assert frame is not None, "the connection ended without a close frame"
            if frame.opcode == Opcode.CLOSE:
                return results, Close.parse(frame.data)
            results += 1

    def close(self) -> None:
        self.writer.close()


async def open_client(gateway: RunningGateway) -> websockets.ClientConnection:
    """Connect with graphql-transport-ws and start the subscription."""
    client = await websockets.connect(
        ws_url(gateway), subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None
    )
    await client.send(json.dumps({"type": "connection_init"}))
    assert json.loads(await client.recv())["type"] == "connection_ack"
    await client.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
    return client


async def read_all(client: websockets.ClientConnection, count: int) -> float:
    """Read `count` results and return the monotonic time the last one arrived."""
    for number in range(count):
        message = json.loads(await asyncio.wait_for(client.recv(), 30))
        assert message["type"] == "next", message
        assert message["payload"]["data"]["events"]["data"]["n"] == number
    return time.monotonic()


async def test_stalled_client_closed_others_on_time(small_queue_gateway: RunningGateway) -> None:
    gateway = small_queue_gateway
    bus = gateway.services.bus
    slow = await StallingClient.connect(gateway)
    fast = [await open_client(gateway) for _ in range(2)]
    await wait_until(lambda: subscriber_count(gateway, CAMERA) == 3, what="three subscriptions")

    readers = [asyncio.ensure_future(read_all(client, EVENTS)) for client in fast]
    started = time.monotonic()
    for number in range(EVENTS):
        await bus.publish(
            CloudEvent.new(
                "com.fishwatch.camera.observation",
                "/tests/camera",
                {"n": number, "cameraId": "cam-1", "kind": "count", "padding": PADDING},
                farm_id="farm-001",
            )
        )
    finished = await asyncio.gather(*readers)

    # The fast clients got every event while the slow one was stalled, and promptly.
    assert bus.slow_subscribers_closed == 1
    assert max(finished) - started < 15
    assert subscriber_count(gateway, CAMERA) == 2

    # Once the slow client reads again it finds the close frame behind the results that were in flight.
    received, close = await slow.read_until_close()
    slow.close()
    assert close.code == SubscriberTooSlowError.websocket_close_code == 4507
    assert close.reason == SubscriberTooSlowError.websocket_close_reason
    assert received < EVENTS
    for client in fast:
        await client.close()

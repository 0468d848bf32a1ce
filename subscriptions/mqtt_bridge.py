"""The MQTT telemetry bridge: device messages in, telemetry reading CloudEvents out on the bus.

The bridge never stops on bad input: every rejected message goes to the dead-letter store with
its reason and is counted by reason. When the broker goes away it reconnects with capped
exponential backoff and subscribes again. Replicas share the topic through an MQTT shared
subscription ("$share/<group>/<filter>"), so each message is ingested by one replica only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiomqtt

from common.errors import ConfigError, FishWatchError
from subscriptions.events import CloudEvent
from subscriptions.telemetry import TelemetryRejectedError, telemetry_event

logger = logging.getLogger(__name__)


class EventSink(Protocol):
    async def publish(self, event: CloudEvent) -> str: ...

    async def publish_dead_letter(self, reason: str, payload: str, source: str) -> None: ...


@dataclass(frozen=True)
class MqttOptions:
    """Broker address and connection options of the bridge; times in seconds, sizes in bytes."""

    url: str
    topic_filter: str = "fishwatch/+/+/+/telemetry"
    shared_group: str = "fishwatch-gateways"
    client_id: str = "fishwatch-gateway"
    keepalive_s: int = 30
    max_payload_bytes: int = 65_536
    max_queued_messages: int = 10_000
    backoff_base_s: float = 0.2
    backoff_max_s: float = 10.0


def _broker(url: str) -> tuple[str, int, str | None, str | None, bool]:
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ConfigError(
            f"FISHWATCH_MQTT_URL '{parts.scheme}://{parts.hostname or ''}...' is not an MQTT URL; "
            "expected mqtt://host:1883 or mqtts://user:password@host:8883"
        )
    tls = parts.scheme == "mqtts"
    port = parts.port or (8883 if tls else 1883)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname, port, username, password, tls


class MqttBridge:
    """Subscribe to device telemetry and publish each valid message as an event."""

    def __init__(self, options: MqttOptions, sink: EventSink) -> None:
        self.options = options
        self.sink = sink
        self.host, self.port, self._username, self._password, self._tls = _broker(options.url)
        self.client_id = f"{options.client_id}-{uuid.uuid4().hex[:8]}"
        self.accepted = 0
        self.rejected: Counter[str] = Counter()
        self.connected = asyncio.Event()
        self.connections = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def subscription_topic(self) -> str:
        if self.options.shared_group:
            return f"$share/{self.options.shared_group}/{self.options.topic_filter}"
        return self.options.topic_filter

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run_forever(), name="mqtt-bridge")
        logger.info(
            "mqtt bridge: subscribing %s on %s:%d as %s", self.subscription_topic, self.host, self.port, self.client_id
        )

    async def close(self) -> None:
        """Disconnect from the broker; safe to call twice."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.connected.clear()

    async def _run_forever(self) -> None:
        attempt = 0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=self.client_id,
                    username=self._username,
                    password=self._password,
                    keepalive=self.options.keepalive_s,
                    tls_params=aiomqtt.TLSParameters() if self._tls else None,
                    clean_session=True,
                    max_queued_incoming_messages=self.options.max_queued_messages,
                ) as client:
                    await client.subscribe(self.subscription_topic, qos=1)
                    attempt = 0
                    self.connections += 1
                    self.connected.set()
                    logger.info(
                        "mqtt bridge: connected to %s:%d (connection %d)", self.host, self.port, self.connections
                    )
                    async for message in client.messages:
                        await self.handle(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                attempt += 1
                delay = min(self.options.backoff_max_s, self.options.backoff_base_s * 2 ** (attempt - 1))
                delay *= random.uniform(0.5, 1.0)
                logger.warning(
                    "mqtt bridge: connection to %s:%d lost or refused (%s); retrying in %.2f s (attempt %d)",
                    self.host,
                    self.port,
                    exc,
                    delay,
                    attempt,
                )
                await asyncio.sleep(delay)

    async def handle(self, topic: str, payload: object) -> None:
        """Publish one message as an event, or dead-letter it with the reason; never raises."""
        raw = payload if isinstance(payload, bytes) else str(payload).encode()
        try:
            event = telemetry_event(topic, raw, self.options.max_payload_bytes)
        except TelemetryRejectedError as exc:
            await self._dead_letter(exc.reason, exc.message, topic, raw)
            return
        except Exception as exc:
            # A bug must not stop the bridge: keep the message for inspection and go on.
            logger.exception("mqtt bridge: unexpected error on a message from %s", topic)
            await self._dead_letter("internal_error", repr(exc), topic, raw)
            return
        try:
            await self.sink.publish(event)
        except FishWatchError as exc:
            await self._dead_letter("publish_failed", exc.message, topic, raw)
            return
        self.accepted += 1

    async def _dead_letter(self, reason: str, message: str, topic: str, raw: bytes) -> None:
        self.rejected[reason] += 1
        total = sum(self.rejected.values())
        # Log the first rejections and then every 100th, so a flood of bad input cannot flood the log.
        if total <= 10 or total % 100 == 0:
            logger.warning(
                "mqtt bridge: rejected a message on %s (%s: %s); %d rejected so far", topic, reason, message, total
            )
        text = raw[: self.options.max_payload_bytes].decode("utf-8", errors="replace")
        try:
            await self.sink.publish_dead_letter(f"{reason}: {message}", text, topic)
        except FishWatchError as exc:
            self.rejected["dead_letter_failed"] += 1
            logger.error("mqtt bridge: could not store a dead letter for %s: %s", topic, exc.message)

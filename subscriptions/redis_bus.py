"""The Redis event bus: a bounded Redis Stream for replay plus pub/sub for live delivery.

`publish` runs one Lua script, so appending to the stream and publishing to the channel happen
atomically and in the same order for every publisher. The pub/sub message is the stream position,
a newline, then the event in CloudEvents JSON; subscribers need the position for the hand-over
between replayed and live events (see subscriptions/subscription.py). Retention is trimmed with
'~', so Redis keeps at least `stream_max_events` and may keep up to one macro node more.
"""

from __future__ import annotations

import logging
from typing import Any

from redis.asyncio import BlockingConnectionPool, ConnectionPool, Redis
from redis.exceptions import RedisError, ResponseError

from subscriptions.bus import BusOptions, EventBus
from subscriptions.channels import channel_of_event, control_channel, dead_letter_key, stream_key, subscription_name
from subscriptions.errors import EventBusUnavailableError, ResumePositionExpiredError, ResumePositionInvalidError
from subscriptions.events import CloudEvent
from subscriptions.filters import ChannelKey
from subscriptions.positions import ZERO, Position, format_position, parse_position
from subscriptions.redis_listener import RedisListener
from subscriptions.subscription import Delivery, EventSubscription

logger = logging.getLogger(__name__)

# KEYS[1]: stream. ARGV: channel, event JSON, max events, retention in ms.
PUBLISH_SCRIPT = """
local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'event', ARGV[2])
local now = redis.call('TIME')
local oldest_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[4])
if oldest_ms > 0 then
  redis.call('XTRIM', KEYS[1], 'MINID', '~', oldest_ms)
end
redis.call('PUBLISH', ARGV[1], id .. '\\n' .. ARGV[2])
return id
"""


def _key(raw: Any) -> Position:
    return parse_position(raw.decode() if isinstance(raw, bytes) else raw)


class RedisEventBus(EventBus):
    """Event bus shared by every replica that points at the same Redis and key prefix."""

    kind = "redis"

    def __init__(self, url: str, options: BusOptions) -> None:
        super().__init__(options)
        self._url = url
        common: dict[str, Any] = {
            "socket_timeout": options.redis_socket_timeout_s,
            "socket_connect_timeout": options.redis_socket_timeout_s,
            "client_name": "fishwatch-event-bus",
        }
        self._client = Redis.from_pool(
            BlockingConnectionPool.from_url(
                url,
                max_connections=options.redis_max_connections,
                timeout=options.redis_socket_timeout_s,
                health_check_interval=int(options.health_check_interval_s),
                **common,
            )
        )
        self._subscriber_pool = ConnectionPool.from_url(url, **common)
        self._publish_script = self._client.register_script(PUBLISH_SCRIPT)
        self._stream = stream_key(options.key_prefix)
        self._listener = RedisListener(
            self._subscriber_pool,
            control_channel=control_channel(options.key_prefix),
            on_message=self._on_message,
            on_restored=self._on_restored,
            backoff_base_s=options.reconnect_backoff_base_s,
            backoff_max_s=options.reconnect_backoff_max_s,
            health_check_interval_s=options.health_check_interval_s,
            socket_timeout_s=options.redis_socket_timeout_s,
        )
        self._names_by_channel: dict[tuple[str, bool], ChannelKey] = {}
        self._last_parsed: Delivery | None = None
        self.invalid_messages = 0

    async def start(self) -> None:
        try:
            await self._client.ping()
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"cannot reach Redis for the event bus: {exc}") from exc
        await self._listener.start()
        logger.info(
            "event bus: Redis at %s, stream %s retaining %d events for up to %d ms",
            self._redacted_url(),
            self._stream,
            self.options.stream_max_events,
            self.options.stream_retention_ms,
        )

    def _redacted_url(self) -> str:
        kwargs = self._subscriber_pool.connection_kwargs
        where = kwargs.get("path") or f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
        return f"{where} db {kwargs.get('db', 0)}"

    async def _close_backend(self) -> None:
        await self._listener.close()
        await self._client.aclose()
        await self._subscriber_pool.aclose()

    async def publish(self, event: CloudEvent) -> str:
        self._ensure_open()
        channel = channel_of_event(self.options.key_prefix, event)
        try:
            raw = await self._publish_script(
                keys=[self._stream],
                args=[channel, event.to_json(), self.options.stream_max_events, self.options.stream_retention_ms],
            )
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"publishing event {event.id} to Redis failed: {exc}") from exc
        self.published_events += 1
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def publish_dead_letter(self, reason: str, payload: str, source: str) -> None:
        """Append a rejected input with the reason to the dead-letter stream (bounded, approximate)."""
        try:
            await self._client.xadd(
                dead_letter_key(self.options.key_prefix),
                {"reason": reason, "payload": payload, "source": source},
                maxlen=self.options.dead_letter_max_entries,
                approximate=True,
            )
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"writing a dead letter to Redis failed: {exc}") from exc

    # Live delivery.

    async def attach(self, subscription: EventSubscription) -> None:
        self._ensure_open()
        names = self._names_of(subscription)
        self.fanout.add(subscription)
        try:
            await self._listener.acquire(names, self.options.redis_socket_timeout_s)
        except BaseException:
            self.fanout.remove(subscription)
            await self._listener.release(names)
            raise

    async def detach(self, subscription: EventSubscription) -> None:
        self.fanout.remove(subscription)
        if not self.closed:
            await self._listener.release(self._names_of(subscription))

    def detach_soon(self, subscription: EventSubscription) -> None:
        # The fan-out drops the subscriber at once, and `detach` then releases its channels.
        super().detach_soon(subscription)

    def _names_of(self, subscription: EventSubscription) -> list[tuple[str, bool]]:
        names = []
        for key in subscription.filter.channel_keys():
            name = subscription_name(self.options.key_prefix, key)
            self._names_by_channel[name] = key
            names.append(name)
        return names

    def _on_message(self, name: str, is_pattern: bool, payload: bytes) -> None:
        key = self._names_by_channel.get((name, is_pattern))
        if key is None:
            return
        delivery = self._parse(payload)
        if delivery is not None:
            self.fanout.dispatch(delivery, (key,))

    def _parse(self, payload: bytes) -> Delivery | None:
        position, _, body = payload.partition(b"\n")
        cached = self._last_parsed
        if cached is not None and cached.position.encode() == position:
            return cached
        try:
            delivery = Delivery(position.decode(), CloudEvent.from_json(body), _key(position))
        except Exception as exc:
            self.invalid_messages += 1
            logger.warning(
                "event bus: dropped an invalid message from Redis (%d so far): %s", self.invalid_messages, exc
            )
            return None
        self._last_parsed = delivery
        return delivery

    def _on_restored(self) -> None:
        for subscription in self.fanout.all():
            subscription.resync()

    # The replay stream.

    async def head_position(self) -> str:
        try:
            entries = await self._client.xrevrange(self._stream, count=1)
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"reading the event stream from Redis failed: {exc}") from exc
        return format_position(_key(entries[0][0])) if entries else format_position(ZERO)

    async def check_resume_position(self, position: str) -> None:
        key = parse_position(position)
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.xrange(self._stream, min=position, max=position, count=1)
                pipe.xrange(self._stream, count=1)
                pipe.xrevrange(self._stream, count=1)
                exact, first, last = await pipe.execute()
        except ResponseError as exc:
            raise ResumePositionInvalidError(
                f"resume position '{position}' is invalid: {exc}", position=position
            ) from exc
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"reading the event stream from Redis failed: {exc}") from exc
        if exact:
            return
        oldest = _key(first[0][0]) if first else None
        newest = _key(last[0][0]) if last else None
        if oldest is None or key < oldest:
            shown = format_position(oldest) if oldest is not None else "none"
            raise ResumePositionExpiredError(
                f"resume position '{position}' is older than the retained events (oldest retained: "
                f"{shown}); events after it may be lost, so subscribe again without `after` and reload state",
                position=position,
                oldest_position=shown,
            )
        if newest is not None and key > newest:
            raise ResumePositionInvalidError(
                f"resume position '{position}' was never issued by this bus (newest is "
                f"'{format_position(newest)}'); pass a position received from it",
                position=position,
            )

    async def read_after(self, position: str, count: int) -> list[Delivery]:
        try:
            entries = await self._client.xrange(self._stream, min=f"({position}", count=count)
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"reading the event stream from Redis failed: {exc}") from exc
        deliveries = []
        for raw_id, fields in entries or []:
            body = (fields or {}).get(b"event")
            try:
                event = CloudEvent.from_json(body or b"")
            except Exception as exc:
                logger.warning("event bus: skipped invalid stream entry %r: %s", raw_id, exc)
                continue
            entry_key = _key(raw_id)
            deliveries.append(Delivery(format_position(entry_key), event, entry_key))
        return deliveries

    async def health(self) -> dict[str, Any]:
        return self.health_snapshot()

    def health_snapshot(self) -> dict[str, Any]:
        """Return the bus's state without awaiting, for checks that poll it."""
        report = {
            "kind": self.kind,
            "status": "closed" if self.closed else "ok",
            "subscribers": len(self.fanout.all()),
            "published_events": self.published_events,
            "slow_subscribers_closed": self.slow_subscribers_closed,
            "invalid_messages": self.invalid_messages,
            "subscriber_connected": self._listener.connected,
            "subscriber_reconnects": self._listener.reconnects,
            "channels": len(self._listener.names),
        }
        if not self._listener.connected and report["status"] == "ok":
            report["status"] = "reconnecting"
        return report

"""The event bus interface, its options, the fan-out shared by both implementations, and the factory.

Publishers call `publish(event)` and get the event's stream position. Subscribers use
`async with bus.subscribe(types=..., farm_ids=..., after=...) as subscription` and iterate it.
Each subscription is indexed under channel keys (family, farm), so dispatching an event looks at
four keys rather than every subscriber, and the Redis bus subscribes only to the channels its
local subscribers need.
"""

from __future__ import annotations

import abc
import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from subscriptions.errors import EventBusUnavailableError
from subscriptions.events import CloudEvent
from subscriptions.filters import ChannelKey, EventFilter
from subscriptions.subscription import Delivery, EventSubscription

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BusOptions:
    """Bounds and timings of the bus; counts are events, times as named."""

    # Retention of the replay stream: at most this many events, none older than this age.
    stream_max_events: int = 100_000
    stream_retention_ms: int = 86_400_000
    # Events waiting for one subscriber before it is closed as too slow.
    subscriber_max_queued_events: int = 1000
    # Events read from the stream per round trip while replaying.
    replay_batch_events: int = 500
    # Prefix of every Redis key and channel the bus uses.
    key_prefix: str = "fishwatch"
    reconnect_backoff_base_s: float = 0.1
    reconnect_backoff_max_s: float = 5.0
    health_check_interval_s: float = 15.0
    redis_socket_timeout_s: float = 5.0
    dead_letter_max_entries: int = 10_000
    # Connections of the command client (publish, replay reads, resume checks). When all are busy,
    # as when thousands of clients subscribe at once after a restart, a command waits up to
    # redis_socket_timeout_s for one instead of failing at once with "Too many connections".
    redis_max_connections: int = 100


class FanOut:
    """Local subscriptions indexed by channel key."""

    def __init__(self) -> None:
        self.by_key: dict[ChannelKey, set[EventSubscription]] = {}

    def add(self, subscription: EventSubscription) -> list[ChannelKey]:
        """Index the subscription; return the keys that had no subscriber before."""
        new_keys = []
        for key in subscription.filter.channel_keys():
            members = self.by_key.setdefault(key, set())
            if not members:
                new_keys.append(key)
            members.add(subscription)
        return new_keys

    def remove(self, subscription: EventSubscription) -> list[ChannelKey]:
        """Drop the subscription; return the keys left without a subscriber."""
        emptied = []
        for key in subscription.filter.channel_keys():
            members = self.by_key.get(key)
            if members is None or subscription not in members:
                continue
            members.discard(subscription)
            if not members:
                del self.by_key[key]
                emptied.append(key)
        return emptied

    def dispatch(self, delivery: Delivery, keys: Iterable[ChannelKey]) -> int:
        offered = 0
        for key in keys:
            # A copy, because an overflowing subscriber removes itself while we iterate.
            for subscription in tuple(self.by_key.get(key, ())):
                subscription.offer(delivery)
                offered += 1
        return offered

    def all(self) -> set[EventSubscription]:
        return {subscription for members in self.by_key.values() for subscription in members}


class EventBus(abc.ABC):
    """Publish CloudEvents and subscribe to them with filters and resume positions."""

    kind: str = "abstract"

    def __init__(self, options: BusOptions) -> None:
        self.options = options
        self.fanout = FanOut()
        self.closed = False
        self.published_events = 0
        self.slow_subscribers_closed = 0
        self._detach_tasks: set[asyncio.Task[None]] = set()

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; raises EventBusUnavailableError when the backend cannot be reached."""

    async def close(self) -> None:
        """End every subscription and release connections; safe to call twice."""
        if self.closed:
            return
        self.closed = True
        for subscription in self.fanout.all():
            subscription.end()
        for task in list(self._detach_tasks):
            task.cancel()
        await asyncio.gather(*self._detach_tasks, return_exceptions=True)
        await self._close_backend()

    @abc.abstractmethod
    async def _close_backend(self) -> None: ...

    @abc.abstractmethod
    async def publish(self, event: CloudEvent) -> str:
        """Append the event to the retained stream and deliver it live; return its stream position."""

    @abc.abstractmethod
    async def publish_dead_letter(self, reason: str, payload: str, source: str) -> None:
        """Keep an input that could not become an event, with the reason, in a bounded store."""

    def subscribe(
        self,
        *,
        types: Iterable[str] = (),
        farm_ids: Iterable[str] = (),
        enclosure_ids: Iterable[str] = (),
        after: str | None = None,
        max_queued_events: int | None = None,
    ) -> EventSubscription:
        """Return a subscription to enter with `async with`.

        `types` entries match a type exactly, or as a prefix when they end in "." (for example
        WORKFLOW_RUN_PREFIX). With `after`, every retained event after that position is replayed
        before live events. Entering raises ResumePositionExpiredError when the position is
        older than the retained stream and ResumePositionInvalidError when it is malformed.
        """
        event_filter = EventFilter.build(types, farm_ids, enclosure_ids)
        bound = max_queued_events if max_queued_events is not None else self.options.subscriber_max_queued_events
        return EventSubscription(self, event_filter, after, bound)

    async def health(self) -> dict[str, Any]:
        """Return the bus's state for readiness checks."""
        return {
            "kind": self.kind,
            "status": "closed" if self.closed else "ok",
            "subscribers": len(self.fanout.all()),
            "published_events": self.published_events,
            "slow_subscribers_closed": self.slow_subscribers_closed,
        }

    # The contract between the bus and its subscriptions.

    async def attach(self, subscription: EventSubscription) -> None:
        """Start live delivery to the subscription; returns once live events reach it."""
        self._ensure_open()
        self.fanout.add(subscription)

    async def detach(self, subscription: EventSubscription) -> None:
        self.fanout.remove(subscription)

    def detach_soon(self, subscription: EventSubscription) -> None:
        """Detach from inside dispatch (which cannot await), in an owned task."""
        self.slow_subscribers_closed += 1
        self.fanout.remove(subscription)
        task = asyncio.get_running_loop().create_task(self.detach(subscription))
        self._detach_tasks.add(task)
        task.add_done_callback(self._detach_done)

    def _detach_done(self, task: asyncio.Task[None]) -> None:
        self._detach_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("detaching a slow subscriber failed: %r", task.exception())

    @abc.abstractmethod
    async def head_position(self) -> str:
        """Return the position of the newest event ever appended, "0-0" when there is none."""

    @abc.abstractmethod
    async def check_resume_position(self, position: str) -> None:
        """Raise if replay from `position` could miss events or the position was never issued."""

    @abc.abstractmethod
    async def read_after(self, position: str, count: int) -> list[Delivery]:
        """Return up to `count` retained events strictly after `position`, oldest first."""

    def _ensure_open(self) -> None:
        if self.closed:
            raise EventBusUnavailableError(f"the {self.kind} event bus is closed; the gateway is shutting down")


async def open_event_bus(redis_url: str | None, options: BusOptions | None = None) -> EventBus:
    """Create and start the Redis bus for a URL, or the in-memory bus without one."""
    chosen = options or BusOptions()
    bus: EventBus
    if redis_url:
        from subscriptions.redis_bus import RedisEventBus

        bus = RedisEventBus(redis_url, chosen)
    else:
        from subscriptions.memory import MemoryEventBus

        bus = MemoryEventBus(chosen)
    await bus.start()
    return bus

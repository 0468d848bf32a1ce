"""One subscriber's view of the bus: a bounded queue, replay of retained events, and hand-over.

The hand-over from replayed to live events works like this. The subscription registers for live
events first, and only then reads the retained stream after its start position. Live events that
arrive meanwhile wait in the queue. Every event carries its stream position, and positions
increase in publish order, so after the replay the queue is drained skipping every position at or
below the last one delivered. That gives no gap and no duplicate. A reconnect of the bus to Redis
puts a marker in the queue, and the same replay then runs again from the last delivered position.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from common.errors import FishWatchError
from subscriptions.errors import SubscriberTooSlowError
from subscriptions.events import CloudEvent
from subscriptions.filters import EventFilter
from subscriptions.positions import Position, format_position, parse_position

if TYPE_CHECKING:
    from subscriptions.bus import EventBus

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """An event with its position in the retained stream."""

    position: str
    event: CloudEvent
    key: Position


class _Resync:
    """Queue marker: the bus reconnected, so replay from the last delivered position."""


RESYNC = _Resync()


class EventSubscription:
    """A filtered stream of events for one subscriber; use it as an async context manager.

    `async with bus.subscribe(...) as subscription` returns once live events are flowing, so an
    event published after that point is never missed. Iterating yields CloudEvents; after each,
    `position` is the stream position of the event just yielded (pass it as `after` to resume).
    `deliveries()` yields each event with its position instead.
    """

    # Slots, a list queue and a future created only while waiting keep an idle subscriber small.
    # A deque allocates a 64-slot block even when empty, and an asyncio.Event holds its own deque.
    __slots__ = (
        "_attached",
        "_backlog",
        "_base",
        "_ended",
        "_error",
        "_head",
        "_last",
        "_overflow_callbacks",
        "_queue",
        "_queued_events",
        "_replay_from",
        "_waiter",
        "after",
        "bus",
        "filter",
        "max_queued_events",
        "position",
    )

    def __init__(self, bus: EventBus, event_filter: EventFilter, after: str | None, max_queued_events: int) -> None:
        self.bus = bus
        self.filter = event_filter
        self.after = after
        self.max_queued_events = max_queued_events
        self.position: str | None = after
        self._last: Position | None = parse_position(after) if after is not None else None
        self._replay_from: str | None = after
        self._base: str | None = after
        # Replayed events not yet taken, newest first; empty outside a replay.
        self._backlog: list[Delivery] = []
        # Live events and resync markers; items before `_head` are taken. Reset whenever drained.
        self._queue: list[Delivery | _Resync] = []
        self._head = 0
        self._queued_events = 0
        self._waiter: asyncio.Future[None] | None = None
        self._error: FishWatchError | None = None
        self._ended = False
        self._attached = False
        self._overflow_callbacks: tuple[Callable[[SubscriberTooSlowError], Any], ...] = ()

    async def __aenter__(self) -> EventSubscription:
        await self.bus.attach(self)
        self._attached = True
        try:
            if self.after is not None:
                await self.bus.check_resume_position(self.after)
            else:
                self._base = await self.bus.head_position()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop receiving; safe to call twice."""
        self._ended = True
        self._wake()
        if self._attached:
            self._attached = False
            await self.bus.detach(self)

    def on_overflow(self, callback: Callable[[SubscriberTooSlowError], Any]) -> None:
        """Call `callback` once, from the bus's dispatch, if this subscriber overflows its queue."""
        self._overflow_callbacks = (*self._overflow_callbacks, callback)

    @property
    def queued_events(self) -> int:
        return self._queued_events

    # Called by the bus while it dispatches; never awaits, so dispatch order is queue order.

    def offer(self, delivery: Delivery) -> None:
        if self._ended or self._error is not None or not self.filter.matches(delivery.event):
            return
        if self._queued_events >= self.max_queued_events:
            self._overflow()
            return
        self._queue.append(delivery)
        self._queued_events += 1
        self._wake()

    def resync(self) -> None:
        if not self._ended and self._error is None:
            self._queue.append(RESYNC)
            self._wake()

    def end(self) -> None:
        """End the iteration after the events already taken (the bus is closing)."""
        self._ended = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _overflow(self) -> None:
        error = SubscriberTooSlowError(
            f"the subscriber did not keep up: more than {self.max_queued_events} events were waiting; "
            "read faster or narrow the filter, then resume with the last position received",
            max_queued_events=self.max_queued_events,
            position=self.position,
        )
        self._error = error
        self._queue = []
        self._head = 0
        self._backlog = []
        self._queued_events = 0
        self._wake()
        logger.warning(
            "subscriber too slow: closed after %d queued events (filter=%s, last position %s)",
            self.max_queued_events,
            self.filter,
            self.position,
        )
        for callback in self._overflow_callbacks:
            try:
                callback(error)
            except Exception:
                logger.exception("overflow callback failed")
        self.bus.detach_soon(self)

    # Consumption.

    async def next_delivery(self) -> Delivery:
        """Return the next matching event; raises StopAsyncIteration at the end, SubscriberTooSlowError on overflow."""
        while True:
            if self._error is not None:
                raise self._error
            if self._backlog:
                return self._take(self._backlog.pop())
            if self._replay_from is not None:
                await self._replay_page(self._replay_from)
                continue
            if self._head < len(self._queue):
                item = self._queue[self._head]
                self._head += 1
                if self._head == len(self._queue):
                    # Emptied in place: a new list per event would be one more object per
                    # subscriber for the young garbage collection to scan.
                    self._queue.clear()
                    self._head = 0
                if isinstance(item, _Resync):
                    self._replay_from = self.position or self._base
                    continue
                self._queued_events -= 1
                if self._last is not None and item.key <= self._last:
                    continue
                return self._take(item)
            if self._ended:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def _take(self, delivery: Delivery) -> Delivery:
        self._last = delivery.key
        self.position = delivery.position
        return delivery

    async def _replay_page(self, start: str) -> None:
        page = await self.bus.read_after(start, self.bus.options.replay_batch_events)
        # Called only with the backlog empty. Kept newest first, so taking the oldest is a pop().
        self._backlog = [
            delivery
            for delivery in reversed(page)
            if self.filter.matches(delivery.event) and (self._last is None or delivery.key > self._last)
        ]
        if len(page) < self.bus.options.replay_batch_events:
            self._replay_from = None
        else:
            self._replay_from = format_position(page[-1].key)

    async def deliveries(self) -> Any:
        """Yield each matching event with its stream position."""
        while True:
            try:
                delivery = await self.next_delivery()
            except StopAsyncIteration:
                return
            yield delivery

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> CloudEvent:
        return (await self.next_delivery()).event

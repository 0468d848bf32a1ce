"""The in-memory event bus: the embedded default for a single process without Redis.

It keeps the same contract as the Redis bus: positions in the Redis stream id format, a replay
buffer bounded by count and age, and the same resume errors.
"""

from __future__ import annotations

import bisect
import logging
import time
from collections import deque

from subscriptions.bus import BusOptions, EventBus
from subscriptions.errors import ResumePositionExpiredError, ResumePositionInvalidError
from subscriptions.events import CloudEvent
from subscriptions.filters import keys_of_event
from subscriptions.positions import ZERO, Position, format_position, parse_position
from subscriptions.subscription import Delivery

logger = logging.getLogger(__name__)


class MemoryEventBus(EventBus):
    """Event bus inside one process; replicas cannot share it."""

    kind = "memory"

    def __init__(self, options: BusOptions) -> None:
        super().__init__(options)
        # Retained events are kept as JSON text: strings are invisible to the cyclic garbage collector,
        # whereas 100,000 event objects made every full collection walk them (tens of ms per pass).
        self._retained: deque[str] = deque()
        self._keys: deque[Position] = deque()
        self._head: Position = ZERO
        self.dead_letters: deque[dict[str, str]] = deque(maxlen=options.dead_letter_max_entries)

    async def start(self) -> None:
        logger.info(
            "event bus: in-memory (no Redis URL set); retains %d events for up to %d ms, "
            "and replicas do not share events",
            self.options.stream_max_events,
            self.options.stream_retention_ms,
        )

    async def _close_backend(self) -> None:
        self._retained.clear()
        self._keys.clear()

    def _next_position(self) -> Position:
        now_ms = int(time.time() * 1000)
        if now_ms > self._head[0]:
            return now_ms, 0
        return self._head[0], self._head[1] + 1

    def _trim(self, now_ms: int) -> None:
        while len(self._retained) > self.options.stream_max_events:
            self._retained.popleft()
            self._keys.popleft()
        oldest_kept_ms = now_ms - self.options.stream_retention_ms
        while self._keys and self._keys[0][0] < oldest_kept_ms:
            self._retained.popleft()
            self._keys.popleft()

    async def publish(self, event: CloudEvent) -> str:
        self._ensure_open()
        key = self._next_position()
        self._head = key
        delivery = Delivery(format_position(key), event, key)
        self._retained.append(event.to_json())
        self._keys.append(key)
        self._trim(key[0])
        self.published_events += 1
        self.fanout.dispatch(delivery, keys_of_event(event))
        return delivery.position

    async def publish_dead_letter(self, reason: str, payload: str, source: str) -> None:
        """Keep a rejected input with the reason, newest last, bounded by dead_letter_max_entries."""
        self.dead_letters.append({"reason": reason, "payload": payload, "source": source})

    async def head_position(self) -> str:
        return format_position(self._head)

    async def check_resume_position(self, position: str) -> None:
        key = parse_position(position)
        if key > self._head:
            raise ResumePositionInvalidError(
                f"resume position '{position}' was never issued by this bus (newest is "
                f"'{format_position(self._head)}'); pass a position received from it",
                position=position,
            )
        self._trim(int(time.time() * 1000))
        index = bisect.bisect_left(self._keys, key)
        if index < len(self._keys) and self._keys[index] == key:
            return
        if index == 0:
            oldest = format_position(self._keys[0]) if self._keys else "none"
            raise ResumePositionExpiredError(
                f"resume position '{position}' is older than the retained events (oldest retained: "
                f"{oldest}); events after it may be lost, so subscribe again without `after` and reload state",
                position=position,
                oldest_position=oldest,
            )

    async def read_after(self, position: str, count: int) -> list[Delivery]:
        key = parse_position(position)
        start = bisect.bisect_right(self._keys, key)
        end = min(start + count, len(self._retained))
        return [
            Delivery(format_position(self._keys[index]), CloudEvent.from_json(self._retained[index]), self._keys[index])
            for index in range(start, end)
        ]

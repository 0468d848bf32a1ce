"""The one Redis subscriber connection of a process, multiplexing every channel and pattern it needs.

Channels and patterns are reference counted: the first subscriber of a name sends SUBSCRIBE (or
PSUBSCRIBE) and the last one to leave sends UNSUBSCRIBE. `acquire` returns only after Redis has
confirmed every name, which is what lets a subscription read the replay stream knowing that no
later event can slip past it. When the connection drops, a reader task reconnects with capped
exponential backoff and jitter, subscribes to every name again, and calls `on_restored` once Redis
has confirmed them all, so subscriptions can replay what they missed. A PING every
`health_check_interval_s` that gets no reply within `redis_socket_timeout_s` counts as a drop.

This talks to a bare redis-py Connection rather than redis-py's PubSub object, because PubSub
reconnects and resubscribes on its own, and the bus needs to know when that happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections.abc import Callable
from typing import Any

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from subscriptions.errors import EventBusUnavailableError

logger = logging.getLogger(__name__)

MessageHandler = Callable[[str, bool, bytes], None]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisListener:
    """Own one subscriber connection; dispatch each message by the channel or pattern that matched."""

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        control_channel: str,
        on_message: MessageHandler,
        on_restored: Callable[[], None],
        backoff_base_s: float,
        backoff_max_s: float,
        health_check_interval_s: float,
        socket_timeout_s: float,
    ) -> None:
        self._pool = pool
        self._control = control_channel
        self._on_message = on_message
        self._on_restored = on_restored
        self._backoff_base_s = backoff_base_s
        self._backoff_max_s = backoff_max_s
        self._health_check_interval_s = health_check_interval_s
        self._socket_timeout_s = socket_timeout_s
        self._refcounts: dict[tuple[str, bool], int] = {}
        self._sent: set[tuple[str, bool]] = set()
        self._unconfirmed: dict[tuple[str, bool], int] = {}
        self._confirmed = asyncio.Condition()
        self._send_lock = asyncio.Lock()
        self._connection: AbstractConnection | None = None
        self._connected = asyncio.Event()
        self._restoring = False
        self._ping_sent_at: float | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.reconnects = 0

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def names(self) -> set[tuple[str, bool]]:
        return {name for name, count in self._refcounts.items() if count > 0}

    async def start(self) -> None:
        """Open the connection; raises EventBusUnavailableError when Redis cannot be reached."""
        try:
            await self._connect()
        except (RedisError, OSError) as exc:
            raise EventBusUnavailableError(f"cannot open the Redis subscriber connection: {exc}") from exc
        for coroutine in (self._read_forever(), self._check_health_forever()):
            task = asyncio.get_running_loop().create_task(coroutine)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    async def close(self) -> None:
        """Stop the reader and health tasks and close the connection; safe to call twice."""
        self._closing = True
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._drop_connection()

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("event bus: Redis listener task failed: %r", task.exception(), exc_info=task.exception())

    async def acquire(self, names: list[tuple[str, bool]], timeout_s: float) -> None:
        """Count one more user of each name and wait until Redis confirms them all.

        Raises EventBusUnavailableError if confirmation does not come within `timeout_s`; the
        names stay counted, so the caller must `release` them.
        """
        for name in names:
            self._refcounts[name] = self._refcounts.get(name, 0) + 1
        await self._sync(names)

        def all_confirmed() -> bool:
            return self.connected and all(name in self._sent and not self._unconfirmed.get(name) for name in names)

        try:
            async with asyncio.timeout(timeout_s):
                async with self._confirmed:
                    await self._confirmed.wait_for(all_confirmed)
        except TimeoutError:
            raise EventBusUnavailableError(
                f"Redis did not confirm the subscription within {timeout_s} s; the bus is reconnecting, retry later"
            ) from None

    async def release(self, names: list[tuple[str, bool]]) -> None:
        for name in names:
            count = self._refcounts.get(name, 0) - 1
            if count <= 0:
                self._refcounts.pop(name, None)
            else:
                self._refcounts[name] = count
        await self._sync(names)

    async def _sync(self, names: list[tuple[str, bool]]) -> None:
        """Send SUBSCRIBE or UNSUBSCRIBE so Redis matches the reference counts; idempotent."""
        async with self._send_lock:
            connection = self._connection
            if connection is None or not self.connected:
                return  # The reconnect sends every counted name.
            for name in dict.fromkeys(names):
                wanted = self._refcounts.get(name, 0) > 0
                channel, is_pattern = name
                try:
                    if wanted and name not in self._sent:
                        self._unconfirmed[name] = self._unconfirmed.get(name, 0) + 1
                        self._sent.add(name)
                        await connection.send_command("PSUBSCRIBE" if is_pattern else "SUBSCRIBE", channel)
                    elif not wanted and name in self._sent:
                        self._sent.discard(name)
                        await connection.send_command("PUNSUBSCRIBE" if is_pattern else "UNSUBSCRIBE", channel)
                except (RedisError, OSError) as exc:
                    logger.warning("event bus: sending a subscription change for %s failed: %r", channel, exc)
                    await self._drop_connection()
                    return

    async def _connect(self) -> None:
        connection = self._pool.make_connection()
        connection.retry = Retry(NoBackoff(), 0)
        await connection.connect()
        self._connection = connection
        names = self.names
        self._sent = set(names)
        self._unconfirmed = {name: 1 for name in names}
        channels = [self._control, *(channel for channel, is_pattern in names if not is_pattern)]
        patterns = [channel for channel, is_pattern in names if is_pattern]
        await connection.send_command("SUBSCRIBE", *channels)
        if patterns:
            await connection.send_command("PSUBSCRIBE", *patterns)
        self._ping_sent_at = None
        self._connected.set()

    async def _drop_connection(self) -> None:
        self._connected.clear()
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(RedisError, OSError):
                await connection.disconnect(nowait=True)

    async def _read_forever(self) -> None:
        attempt = 0
        while not self._closing:
            connection = self._connection
            if connection is None:
                attempt += 1
                delay = min(self._backoff_max_s, self._backoff_base_s * 2 ** (attempt - 1))
                delay *= random.uniform(0.5, 1.0)
                logger.warning("event bus: reconnecting to Redis in %.2f s (attempt %d)", delay, attempt)
                await asyncio.sleep(delay)
                try:
                    await self._connect()
                except (RedisError, OSError) as exc:
                    logger.warning("event bus: reconnecting to Redis failed (attempt %d): %r", attempt, exc)
                    await self._drop_connection()
                    continue
                self._restoring = True
                attempt = 0
                continue
            try:
                response = await connection.read_response(timeout=math.inf, disconnect_on_error=True, push_request=True)
            except (RedisError, OSError) as exc:
                if self._closing:
                    return
                logger.warning("event bus: lost the Redis subscriber connection: %r", exc)
                await self._drop_connection()
                continue
            await self._handle(response)

    async def _handle(self, response: Any) -> None:
        # RESP3 replies to PING with a plain PONG even in subscribed mode, and RESP2 with ["pong", ""].
        if isinstance(response, bytes | str) and _text(response).upper() == "PONG":
            self._ping_sent_at = None
            return
        if not isinstance(response, list) or not response:
            return
        kind = _text(response[0])
        if kind == "message":
            self._on_message(_text(response[1]), False, response[2])
        elif kind == "pmessage":
            self._on_message(_text(response[1]), True, response[3])
        elif kind in ("subscribe", "psubscribe"):
            name = (_text(response[1]), kind == "psubscribe")
            if self._unconfirmed.get(name):
                self._unconfirmed[name] -= 1
            async with self._confirmed:
                self._confirmed.notify_all()
            if self._restoring and not any(self._unconfirmed.values()):
                self._restoring = False
                self.reconnects += 1
                logger.info(
                    "event bus: Redis subscriber connection restored with %d channels and patterns",
                    len(self._sent),
                )
                self._on_restored()
        elif kind == "pong":
            self._ping_sent_at = None

    async def _check_health_forever(self) -> None:
        loop = asyncio.get_running_loop()
        step_s = min(self._health_check_interval_s, self._socket_timeout_s) / 2
        next_ping_at = loop.time() + self._health_check_interval_s
        while not self._closing:
            await asyncio.sleep(step_s)
            connection = self._connection
            if connection is None or not self.connected:
                continue
            now = loop.time()
            if self._ping_sent_at is not None:
                if now - self._ping_sent_at > self._socket_timeout_s:
                    logger.warning(
                        "event bus: Redis did not reply to PING within %.1f s; reconnecting", self._socket_timeout_s
                    )
                    await self._drop_connection()
                continue
            if now < next_ping_at:
                continue
            next_ping_at = now + self._health_check_interval_s
            try:
                async with self._send_lock:
                    await connection.send_command("PING")
                self._ping_sent_at = now
            except (RedisError, OSError) as exc:
                logger.warning("event bus: PING on the subscriber connection failed: %r", exc)
                await self._drop_connection()

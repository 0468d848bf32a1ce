"""Fixed-window rate limits per client and per IP address, in memory or shared through Redis.

Each key counts requests in windows of `window_s` seconds aligned to the Unix epoch. With Redis,
one Lua script increments and sets the expiry atomically, so every replica counts into the same
window. Headers follow the IETF draft "RateLimit header fields for HTTP": `RateLimit-Limit`,
`RateLimit-Remaining`, `RateLimit-Reset` (seconds) and `RateLimit-Policy`.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

_INCREMENT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


@dataclass(frozen=True)
class RateDecision:
    """The outcome of counting one request against one limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_s: int
    window_s: int

    def headers(self) -> dict[str, str]:
        values = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_s),
            "RateLimit-Policy": f"{self.limit};w={self.window_s}",
        }
        if not self.allowed:
            values["Retry-After"] = str(self.reset_s)
        return values


class Counter(Protocol):
    """Counts hits per key within a window that expires after `window_ms`."""

    async def increment(self, key: str, window_ms: int) -> int: ...


class MemoryCounter:
    """Counters of one process; windows past their end are dropped as new ones open."""

    def __init__(self) -> None:
        self.counts: dict[str, tuple[int, float]] = {}

    async def increment(self, key: str, window_ms: int) -> int:
        now = time.monotonic()
        if len(self.counts) > 10_000:
            self.counts = {name: entry for name, entry in self.counts.items() if entry[1] > now}
        count, expires = self.counts.get(key, (0, now + window_ms / 1000))
        self.counts[key] = (count + 1, expires)
        return count + 1


class RedisCounter:
    """Counters shared by every replica.

    While Redis cannot be reached, requests are counted in this process instead, so limits hold
    per replica rather than failing every request; one warning is logged per `warn_every_s`.
    """

    def __init__(self, redis: Any, warn_every_s: float = 60.0) -> None:
        self.script = redis.register_script(_INCREMENT)
        self.fallback = MemoryCounter()
        self.warn_every_s = warn_every_s
        self._last_warning = -math.inf
        self.fallback_hits = 0

    async def increment(self, key: str, window_ms: int) -> int:
        try:
            return int(await self.script(keys=[key], args=[window_ms]))
        except (RedisError, OSError) as exc:
            self.fallback_hits += 1
            now = time.monotonic()
            if now - self._last_warning >= self.warn_every_s:
                self._last_warning = now
                logger.warning(
                    "rate-limit counters in Redis are unreachable (%s); counting in this process until it "
                    "returns (%d requests so far)",
                    exc.__class__.__name__,
                    self.fallback_hits,
                )
            return await self.fallback.increment(key, window_ms)


class RateLimiter:
    """Applies one limit per key kind (`client`, `ip`) over a shared window length."""

    def __init__(self, counter: Counter, window_s: int, prefix: str) -> None:
        self.counter = counter
        self.window_s = window_s
        self.prefix = prefix

    async def hit(self, kind: str, identity: str, limit: int) -> RateDecision:
        now = time.time()
        window = math.floor(now / self.window_s)
        reset_s = max(1, math.ceil((window + 1) * self.window_s - now))
        count = await self.counter.increment(
            f"{self.prefix}ratelimit:{kind}:{identity}:{window}", (self.window_s + 1) * 1000
        )
        return RateDecision(count <= limit, limit, max(0, limit - count), reset_s, self.window_s)

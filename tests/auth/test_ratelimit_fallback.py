"""Rate limits keep working, per process, while their Redis is unreachable."""

from __future__ import annotations

import logging
import socket

import redis.asyncio as redis

from gateway.auth.ratelimit import RateLimiter, RedisCounter


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_counter_falls_back_when_redis_down(caplog):
    client = redis.from_url(f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=0.2)
    counter = RedisCounter(client)
    limiter = RateLimiter(counter, window_s=60, prefix="test:")
    try:
        with caplog.at_level(logging.WARNING, logger="gateway.auth.ratelimit"):
            decisions = [await limiter.hit("ip", "192.0.2.7", 2) for _ in range(3)]
    finally:
        await client.aclose()

    assert [decision.allowed for decision in decisions] == [True, True, False]
    assert decisions[2].headers()["Retry-After"] == str(decisions[2].reset_s)
    assert counter.fallback_hits == 3
    warnings = [record for record in caplog.records if "unreachable" in record.getMessage()]
    assert len(warnings) == 1

"""Behaviour of the Redis bus that the in-memory bus has no counterpart for."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from subscriptions.bus import BusOptions, open_event_bus
from subscriptions.events import ALERT_PREFIX, ALERT_RAISED, CloudEvent
from subscriptions.redis_bus import RedisEventBus
from tests.subscriptions.conftest import wait_until


def alert(number: int) -> CloudEvent:
    return CloudEvent.new(ALERT_RAISED, "/tests", {"alertId": f"a{number}", "n": number}, farm_id="farm-001")


async def test_dropped_connection_replays_missed(redis_url: str, unique_prefix: str) -> None:
    """Events published while the subscriber connection is down arrive after the reconnect, once each."""
    options = BusOptions(key_prefix=unique_prefix, reconnect_backoff_base_s=0.2, reconnect_backoff_max_s=0.3)
    bus = await open_event_bus(redis_url, options)
    publisher = await open_event_bus(redis_url, options)
    admin = Redis.from_url(redis_url)
    try:
        assert isinstance(bus, RedisEventBus)
        async with bus.subscribe(types=[ALERT_PREFIX]) as subscription:
            await publisher.publish(alert(0))
            first = await asyncio.wait_for(anext(subscription), 5)
            assert first.data == {"alertId": "a0", "n": 0}

            await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
            for number in range(1, 21):
                await publisher.publish(alert(number))
            received = []
            for _ in range(20):
                event = await asyncio.wait_for(anext(subscription), 10)
                assert event.data is not None
                received.append(event.data["n"])
            assert received == list(range(1, 21))

            await wait_until(lambda: bus.health_snapshot()["subscriber_reconnects"] >= 1, what="the reconnect")
            await publisher.publish(alert(21))
            live = await asyncio.wait_for(anext(subscription), 5)
            assert live.data == {"alertId": "a21", "n": 21}
    finally:
        await admin.aclose()
        await publisher.close()
        await bus.close()


async def test_health_reports_subscriber(redis_url: str, unique_prefix: str) -> None:
    bus = await open_event_bus(redis_url, BusOptions(key_prefix=unique_prefix))
    try:
        async with bus.subscribe(types=[ALERT_PREFIX], farm_ids=["farm-001", "farm-002"]):
            report = await bus.health()
        assert report["kind"] == "redis"
        assert report["status"] == "ok"
        assert report["subscriber_connected"] is True
        assert report["subscribers"] == 1
        assert report["channels"] == 2
    finally:
        await bus.close()
    assert (await bus.health())["status"] == "closed"


async def test_subscribe_burst_past_pool_size(redis_url: str, unique_prefix: str) -> None:
    """More subscriptions at once than the command pool has connections wait for one, and all start."""
    pool_size = 20
    bus = await open_event_bus(redis_url, BusOptions(key_prefix=unique_prefix, redis_max_connections=pool_size))
    publisher = await open_event_bus(redis_url, BusOptions(key_prefix=unique_prefix))
    count = 3 * pool_size
    started = asyncio.Event()
    entered = 0

    async def subscribe_and_receive() -> dict[str, object] | None:
        nonlocal entered
        async with bus.subscribe(types=[ALERT_PREFIX]) as subscription:
            entered += 1
            if entered == count:
                started.set()
            event = await asyncio.wait_for(anext(subscription), 10)
            return event.data

    try:
        receivers = [asyncio.ensure_future(subscribe_and_receive()) for _ in range(count)]
        await asyncio.wait_for(started.wait(), 30)
        await publisher.publish(alert(1))
        received = await asyncio.gather(*receivers)
    finally:
        await publisher.close()
        await bus.close()

    assert received == [{"alertId": "a1", "n": 1}] * count

"""The EventBus contract, run against every implementation (in-memory and Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from subscriptions.bus import BusOptions
from subscriptions.errors import (
    EventBusUnavailableError,
    ResumePositionExpiredError,
    ResumePositionInvalidError,
    SubscriberTooSlowError,
)
from subscriptions.events import (
    ALERT_PREFIX,
    ALERT_RAISED,
    ALERT_RESOLVED,
    MODEL_VERSION_REGISTERED,
    TELEMETRY_READING,
    WORKFLOW_RUN_PREFIX,
    CloudEvent,
)
from tests.subscriptions.conftest import open_test_bus

pytestmark = pytest.mark.parametrize("bus_kind", ["memory", "redis"])


def alert(number: int, farm: str = "farm-001", type: str = ALERT_RAISED) -> CloudEvent:
    return CloudEvent.new(type, "/tests", {"alertId": f"a{number}", "n": number}, farm_id=farm)


async def take(subscription: AsyncIterator[CloudEvent], count: int) -> list[int]:
    numbers = []
    for _ in range(count):
        event = await asyncio.wait_for(anext(subscription), 5)
        assert event.data is not None
        numbers.append(event.data["n"])
    return numbers


async def test_publish_returns_increasing_positions(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        first = await bus.publish(alert(1))
        second = await bus.publish(alert(2))
        assert tuple(map(int, first.split("-"))) < tuple(map(int, second.split("-")))
        assert await bus.head_position() == second


async def test_subscriber_receives_matching_events_only(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        async with bus.subscribe(types=[ALERT_PREFIX], farm_ids=["farm-001"]) as subscription:
            await bus.publish(alert(1))
            await bus.publish(alert(2, farm="farm-002"))
            await bus.publish(CloudEvent.new(TELEMETRY_READING, "/t", {"n": 3}, farm_id="farm-001"))
            await bus.publish(alert(4, type=ALERT_RESOLVED))
            assert await take(subscription, 2) == [1, 4]


async def test_exact_type_and_farmless_events(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        async with (
            bus.subscribe(types=[MODEL_VERSION_REGISTERED]) as models,
            bus.subscribe() as everything,
            bus.subscribe(types=[WORKFLOW_RUN_PREFIX], farm_ids=["farm-001"]) as runs,
        ):
            registered = CloudEvent.new(MODEL_VERSION_REGISTERED, "/mlops", {"n": 1})
            await bus.publish(registered)
            await bus.publish(CloudEvent.new("com.fishwatch.workflow.run.started", "/wf", {"n": 2}))
            await bus.publish(CloudEvent.new("com.fishwatch.workflow.run.started", "/wf", {"n": 3}, farm_id="farm-001"))
            assert await take(models, 1) == [1]
            assert await take(everything, 3) == [1, 2, 3]
            assert await take(runs, 1) == [3]


async def test_resume_replays_then_goes_live(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        positions = [await bus.publish(alert(number)) for number in range(5)]
        async with bus.subscribe(types=[ALERT_PREFIX], after=positions[1]) as subscription:
            await bus.publish(alert(5))
            assert await take(subscription, 4) == [2, 3, 4, 5]
            assert subscription.position is not None
            await bus.publish(alert(6))
            assert await take(subscription, 1) == [6]


async def test_resume_hand_over_under_load(bus_kind: str, unique_prefix: str) -> None:
    """Events published while the replay runs arrive once each, in order."""
    options = BusOptions(replay_batch_events=7, subscriber_max_queued_events=10_000)
    async with open_test_bus(bus_kind, unique_prefix, options) as bus:
        start = await bus.publish(alert(0))
        for number in range(1, 50):
            await bus.publish(alert(number))

        async def publish_more() -> None:
            for number in range(50, 150):
                await bus.publish(alert(number))

        async with bus.subscribe(after=start) as subscription:
            publisher = asyncio.create_task(publish_more())
            received = await take(subscription, 149)
            await publisher
        assert received == list(range(1, 150))


async def test_resume_position_errors(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix, BusOptions(stream_max_events=3)) as bus:
        first = await bus.publish(alert(0))
        for number in range(1, 400):
            await bus.publish(alert(number))
        with pytest.raises(ResumePositionExpiredError) as expired:
            async with bus.subscribe(after=first):
                pass
        assert expired.value.code == "RESUME_POSITION_EXPIRED"
        assert expired.value.details["position"] == first
        with pytest.raises(ResumePositionInvalidError) as malformed:
            async with bus.subscribe(after="yesterday"):
                pass
        assert malformed.value.code == "RESUME_POSITION_INVALID"
        with pytest.raises(ResumePositionInvalidError) as future:
            async with bus.subscribe(after="99999999999999-0"):
                pass
        assert "never issued" in future.value.message


async def test_resume_from_last_retained(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix, BusOptions(stream_max_events=3)) as bus:
        for number in range(300):
            last = await bus.publish(alert(number))
        async with bus.subscribe(after=last) as subscription:
            await bus.publish(alert(300))
            assert await take(subscription, 1) == [300]


async def test_slow_subscriber_closed_others_receive(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        async with (
            bus.subscribe(max_queued_events=5) as slow,
            bus.subscribe(max_queued_events=100) as fast,
        ):
            overflowed: list[SubscriberTooSlowError] = []
            slow.on_overflow(overflowed.append)
            for number in range(20):
                await bus.publish(alert(number))
            assert await take(fast, 20) == list(range(20))
            with pytest.raises(SubscriberTooSlowError) as caught:
                await anext(slow)
            assert caught.value.code == "SUBSCRIBER_TOO_SLOW"
            assert caught.value.details["max_queued_events"] == 5
            assert len(overflowed) == 1
            assert bus.slow_subscribers_closed == 1


async def test_close_ends_subscriptions(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        async with bus.subscribe() as subscription:
            waiter = asyncio.create_task(anext(subscription))
            await asyncio.sleep(0)
            await bus.close()
            with pytest.raises(StopAsyncIteration):
                await asyncio.wait_for(waiter, 5)
        with pytest.raises(EventBusUnavailableError):
            await bus.publish(alert(1))
        await bus.close()


async def test_unknown_type_filter_rejected(bus_kind: str, unique_prefix: str) -> None:
    async with open_test_bus(bus_kind, unique_prefix) as bus:
        with pytest.raises(Exception) as caught:
            bus.subscribe(types=["org.example.thing"])
        assert getattr(caught.value, "code", None) == "BAD_USER_INPUT"

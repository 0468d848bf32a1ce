"""The gateway's full garbage collections: off in CPython, run on heap growth and on a timer."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref

import pytest

from common.errors import ConfigError
from gateway.gc_policy import NEVER, FullCollectionPolicy
from gateway.settings import load_settings
from tests.gateway_process import serve_gateway


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Node:
    """An object that can sit in a reference cycle."""

    def __init__(self) -> None:
        self.other: Node | None = None


async def freed_within(reference: weakref.ref[Node], timeout_s: float) -> bool:
    """Wait until the object behind `reference` is freed, and return whether that happened in time."""
    for _ in range(int(timeout_s / 0.05)):
        if reference() is None:
            return True
        await asyncio.sleep(0.05)
    return reference() is None


def test_due_on_growth_or_interval():
    clock = Clock()
    heap = [100_000]
    policy = FullCollectionPolicy(300.0, 25.0, read_heap=lambda: heap[0], clock=clock)
    policy._baseline = heap[0]

    assert policy.due() is None
    heap[0] = 125_000  # Exactly 25 % more is not yet growth.
    assert policy.due() is None
    heap[0] = 125_001
    assert policy.due() == "growth"

    heap[0] = 100_000
    clock.now += 299.0
    assert policy.due() is None
    clock.now += 1.0
    assert policy.due() == "interval"


def test_collect_resets_both_triggers():
    clock = Clock()
    heap = [100_000]
    policy = FullCollectionPolicy(300.0, 25.0, read_heap=lambda: heap[0], clock=clock)
    policy._baseline = 50_000
    clock.now += 400.0
    assert policy.due() == "interval"

    policy.collect("interval")

    assert policy.collections == 1
    assert policy.due() is None
    heap[0] = 130_000
    assert policy.due() == "growth"


def test_policy_rejects_zero_interval():
    with pytest.raises(ValueError, match="interval_s must be positive"):
        FullCollectionPolicy(0.0, 25.0)


async def test_policy_frees_old_cycles():
    thresholds = gc.get_threshold()
    policy = FullCollectionPolicy(0.3, 1000.0, check_interval_s=0.05)
    policy.start()
    try:
        assert gc.get_threshold() == (thresholds[0], thresholds[1], NEVER)
        first, second = Node(), Node()
        first.other, second.other = second, first
        gc.collect(1)  # Survivors of a middle-generation collection move to the old generation.
        freed = weakref.ref(first)
        del first, second
        for _ in range(20):  # Enough allocations for CPython to collect the younger generations again.
            [Node() for _ in range(1000)]
        assert freed() is not None, "the cycle was collected before the policy ran"

        assert await freed_within(freed, 5.0)
        assert policy.collections >= 1
    finally:
        await policy.close()
    assert gc.get_threshold() == thresholds


async def test_policy_frees_garbage_on_growth():
    policy = FullCollectionPolicy(300.0, 5.0, check_interval_s=0.05)
    policy.start()
    try:
        pairs = [Node() for _ in range(200_000)]
        for first, second in zip(pairs[::2], pairs[1::2], strict=True):
            first.other, second.other = second, first
        gc.collect(1)  # The pairs reach the old generation, where only a full collection finds them.
        sample = weakref.ref(pairs[0])
        del pairs, first, second

        assert await freed_within(sample, 5.0)
        assert policy.collections >= 1
    finally:
        await policy.close()


async def test_thresholds_restored_by_last_policy():
    thresholds = gc.get_threshold()
    first = FullCollectionPolicy(300.0, 25.0)
    second = FullCollectionPolicy(300.0, 25.0)
    first.start()
    second.start()
    await first.close()
    assert gc.get_threshold()[2] == NEVER
    await second.close()
    assert gc.get_threshold() == thresholds


async def test_gateway_gc_setting_default_off():
    thresholds = gc.get_threshold()
    async with serve_gateway(redis_url=None, mqtt_url=None) as gateway:
        assert "gc_policy" not in gateway.services.extras
        assert gc.get_threshold() == thresholds

    async with serve_gateway(redis_url=None, mqtt_url=None, gc_full_collection_interval_s=300) as gateway:
        policy = gateway.services.extras["gc_policy"]
        assert policy.interval_s == 300.0
        assert gc.get_threshold()[2] == NEVER
    assert gc.get_threshold() == thresholds


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("INTERVAL_S", "0.5", "must be 0 (CPython's own policy) or at least 1 second"),
        ("INTERVAL_S", "inf", "Input should be a finite number"),
        ("INTERVAL_S", "-1", "Input should be greater than or equal to 0"),
        ("GROWTH_PERCENT", "0", "Input should be greater than 0"),
        ("GROWTH_PERCENT", "2000", "Input should be less than or equal to 1000"),
    ],
)
def test_settings_reject_bad_gc_values(variable: str, value: str, expected: str):
    name = f"FISHWATCH_GC_FULL_COLLECTION_{variable}"
    with pytest.raises(ConfigError) as caught:
        load_settings({name: value})
    assert f"{name} '{value}' is invalid" in caught.value.message
    assert expected in caught.value.message


async def test_growth_without_interval_warns(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="gateway.app")
    async with serve_gateway(redis_url=None, mqtt_url=None, gc_full_collection_growth_percent=50):
        pass
    messages = [record.getMessage() for record in caplog.records if record.name == "gateway.app"]
    assert "full garbage collections: CPython's own policy (FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S=0)" in messages
    warnings = [
        record
        for record in caplog.records
        if record.levelno == logging.WARNING and "GROWTH_PERCENT" in record.getMessage()
    ]
    assert len(warnings) == 1

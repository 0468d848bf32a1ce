"""The gateway's full garbage collections: off in CPython, run on heap growth and on a timer."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from gateway.gc_policy import NEVER, FullCollectionPolicy
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

        for _ in range(100):
            if freed() is None:
                break
            await asyncio.sleep(0.05)
        assert freed() is None
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

        for _ in range(100):
            if sample() is None:
                break
            await asyncio.sleep(0.05)
        assert sample() is None
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


async def test_gateway_policy_off_by_default_and_on_when_set():
    thresholds = gc.get_threshold()
    async with serve_gateway(redis_url=None, mqtt_url=None) as gateway:
        assert "gc_policy" not in gateway.services.extras
        assert gc.get_threshold() == thresholds

    async with serve_gateway(redis_url=None, mqtt_url=None, gc_full_collection_interval_s=300) as gateway:
        policy = gateway.services.extras["gc_policy"]
        assert policy.interval_s == 300.0
        assert gc.get_threshold()[2] == NEVER
    assert gc.get_threshold() == thresholds

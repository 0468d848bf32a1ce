"""The gateway's full garbage collections: off in CPython, run on memory growth and on a timer."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from gateway.gc_policy import NEVER, FullCollectionPolicy, resident_bytes
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
    resident = [100_000_000]
    policy = FullCollectionPolicy(300.0, 25.0, read_resident=lambda: resident[0], clock=clock)
    policy._baseline = resident[0]

    assert policy.due() is None
    resident[0] = 125_000_000  # Exactly 25 % more is not yet growth.
    assert policy.due() is None
    resident[0] = 125_000_001
    assert policy.due() == "memory"

    resident[0] = 100_000_000
    clock.now += 299.0
    assert policy.due() is None
    clock.now += 1.0
    assert policy.due() == "interval"


def test_collect_resets_both_triggers():
    clock = Clock()
    resident = [100_000_000]
    policy = FullCollectionPolicy(300.0, 25.0, read_resident=lambda: resident[0], clock=clock)
    policy._baseline = 50_000_000
    clock.now += 400.0
    assert policy.due() == "interval"

    policy.collect("interval")

    assert policy.collections == 1
    assert policy.due() is None
    resident[0] = 130_000_000
    assert policy.due() == "memory"


def test_without_proc_interval_only():
    clock = Clock()
    policy = FullCollectionPolicy(60.0, 25.0, read_resident=lambda: None, clock=clock)
    policy._baseline = policy.read_resident()
    assert policy.due() is None
    clock.now += 60.0
    assert policy.due() == "interval"


def test_resident_bytes_of_this_process():
    resident = resident_bytes()
    assert resident is not None and resident > 10 * 2**20


def test_policy_rejects_zero_interval():
    with pytest.raises(ValueError, match="interval_s must be positive"):
        FullCollectionPolicy(0.0, 25.0)


async def test_policy_frees_old_cycles():
    thresholds = gc.get_threshold()
    policy = FullCollectionPolicy(0.3, 25.0, read_resident=lambda: None, check_interval_s=0.05)
    policy.start()
    try:
        assert gc.get_threshold() == (thresholds[0], NEVER, NEVER)
        first, second = Node(), Node()
        first.other, second.other = second, first
        gc.collect(0)  # Survivors of a young collection move on to an older generation.
        freed = weakref.ref(first)
        del first, second
        for _ in range(20):  # Enough young collections for CPython to have collected generation 1.
            gc.collect(0)
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


async def test_thresholds_restored_by_last_policy():
    thresholds = gc.get_threshold()
    first = FullCollectionPolicy(300.0, 25.0)
    second = FullCollectionPolicy(300.0, 25.0)
    first.start()
    second.start()
    await first.close()
    assert gc.get_threshold()[1:] == (NEVER, NEVER)
    await second.close()
    assert gc.get_threshold() == thresholds


async def test_gateway_policy_default_and_off():
    thresholds = gc.get_threshold()
    async with serve_gateway(redis_url=None, mqtt_url=None) as gateway:
        policy = gateway.services.extras["gc_policy"]
        assert policy.interval_s == 300.0
        assert gc.get_threshold()[1:] == (NEVER, NEVER)
    assert gc.get_threshold() == thresholds

    async with serve_gateway(redis_url=None, mqtt_url=None, gc_full_collection_interval_s=0) as gateway:
        assert "gc_policy" not in gateway.services.extras
        assert gc.get_threshold() == thresholds

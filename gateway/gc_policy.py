"""When the gateway runs CPython's full garbage collections, for replicas with many WebSockets.

CPython starts a full collection when the objects promoted into the old generation since the last
one reach a quarter of it. In a replica with many subscribers the old generation is mostly
the state of open WebSockets, about 180 tracked objects per subscriber. Every event fanned out to
waiting subscribers promotes a few new objects per subscriber: the futures and coroutines each one
waits on next. At 10,000 subscribers that started a full collection every few seconds of steady
traffic. Each one walked about two million objects and held up every delivery for about a second,
and none found any garbage (benchmarks/bench_subscriptions.py, docs/benchmarks.md).

`FullCollectionPolicy` keeps CPython's collections of the young and middle generations, and runs
full collections itself: when the heap has grown by `growth_percent` since the last one, or when
`interval_s` has passed. The heap is measured in memory blocks allocated by Python
(`sys.getallocatedblocks`), which counts garbage until it is collected. A fan-out that replaces
each subscriber's waiting objects leaves that count unchanged. Garbage cycles make it grow: a
closed WebSocket leaves about 70 objects in cycles through uvicorn, Starlette and Strawberry, and
an HTTP request leaves the cycles that outlived the young collections. Resident memory would be a
poor measure: Python reuses the memory a collection frees before it asks the system for more, so
garbage can pile up without resident memory growing.

The policy is off unless `gc_full_collection_interval_s` is set, because it suits only replicas
whose heap is mostly long-lived connections. On the query benchmark, which leaves much garbage and
keeps few objects for long, it made full collections rarer but longer: up to 190 ms each against
up to 38 ms with CPython's policy, and the farm overview's p99 rose from 1.9 to 3.0 times the
floor's. The middle generation stays automatic for the same reason: collecting it only with the
old one halved the scanning of a fan-out, but left every request's cycles to full collections.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import sys
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)

# A count of middle-generation collections that is never reached: as the old generation's
# threshold it keeps CPython from starting full collections by itself.
NEVER = 2**31 - 1
# How often the growth trigger is checked. Counting the allocated blocks took 0.6 ms with nine
# million of them.
CHECK_INTERVAL_S = 1.0

# Thresholds are process-wide while policies belong to apps, and tests run several apps in one
# process: the thresholds found by the first policy to start come back when the last one closes.
_running: set[FullCollectionPolicy] = set()
_thresholds_before: tuple[int, int, int] | None = None


class FullCollectionPolicy:
    """Run full collections on heap growth and on a timer instead of CPython's promotion count.

    `start` and `close` belong to the gateway's lifespan; `close` restores CPython's thresholds.
    """

    def __init__(
        self,
        interval_s: float,
        growth_percent: float,
        *,
        read_heap: Callable[[], int] = sys.getallocatedblocks,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(
                f"interval_s must be positive, not {interval_s}. To keep CPython's own policy, start no policy"
            )
        self.interval_s = interval_s
        self.growth = growth_percent / 100
        self.read_heap = read_heap
        self.clock = clock
        self.check_interval_s = min(check_interval_s, interval_s)
        self.collections = 0
        self._baseline = 0
        self._last = clock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Turn CPython's own full collections off and start checking the triggers."""
        global _thresholds_before
        if self._task is not None:
            return
        if not _running:
            _thresholds_before = gc.get_threshold()
        _running.add(self)
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, NEVER)
        self._baseline = self.read_heap()
        self._last = self.clock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="full garbage collections")
        logger.info(
            "full garbage collections: on %g%% heap growth or every %g s (FISHWATCH_GC_FULL_COLLECTION_*)",
            self.growth * 100,
            self.interval_s,
        )

    async def close(self) -> None:
        """Stop checking and give full collections back to CPython; safe to call twice."""
        global _thresholds_before
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        _running.discard(self)
        if not _running and _thresholds_before is not None:
            gc.set_threshold(*_thresholds_before)
            _thresholds_before = None

    def due(self) -> str | None:
        """Return why a full collection is due now ("growth" or "interval"), or None."""
        if self.clock() - self._last >= self.interval_s:
            return "interval"
        if self.read_heap() > self._baseline * (1 + self.growth):
            return "growth"
        return None

    def collect(self, reason: str) -> int:
        """Run one full collection now and reset both triggers; return the objects it freed."""
        started = time.perf_counter()
        freed = gc.collect()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.collections += 1
        self._last = self.clock()
        self._baseline = self.read_heap()
        logger.debug("full garbage collection (%s): %d objects freed in %.1f ms", reason, freed, elapsed_ms)
        return freed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval_s)
            reason = self.due()
            if reason is not None:
                self.collect(reason)

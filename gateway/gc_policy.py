"""When the gateway runs CPython's full garbage collections.

CPython starts a full collection when the objects promoted into the old generation since the last
one reach a quarter of it. In a gateway the old generation is mostly the state of open WebSockets,
about 180 tracked objects per subscriber. Every event fanned out to waiting subscribers promotes a
few new objects per subscriber: the futures and coroutines each one waits on next. At 10,000
subscribers that started a full collection every few seconds of steady traffic. Each one walked
about two million objects and held up every delivery for about a second, and none found any
garbage (benchmarks/bench_subscriptions.py, docs/benchmarks.md).

A young collection scans every object that appeared since the last one, and CPython scans the
survivors once more in a middle-generation collection before they reach the old generation. A
fan-out makes the young generation as large as the subscriber count times the objects each
subscriber waits on, because the objects they replace are freed from the old generation and so
leave CPython's allocation count where it was: at 10,000 subscribers every event was followed by a
young collection of about 120,000 objects (65 ms) and a middle one as long.

`FullCollectionPolicy` runs two generations instead of three, and decides full collections itself.
Survivors of a young collection stay in the middle generation, which is then collected only with
the old one. That happens when the process's resident memory has grown by `growth_percent` since the last full
collection, or when `interval_s` has passed. Garbage cycles do reach the old generation: a closed
WebSocket leaves about 70 objects in cycles through uvicorn, Starlette and Strawberry. They cost
memory, so memory growth is the trigger, and the interval bounds how long a small amount waits.
Where resident memory cannot be read (no /proc), only the interval applies.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

logger = logging.getLogger(__name__)

# A collection count that is never reached: as the threshold of generations 1 and 2 it keeps
# CPython from collecting them by itself.
NEVER = 2**31 - 1
# How often the memory trigger is checked. Reading /proc/self/statm takes microseconds.
CHECK_INTERVAL_S = 1.0

_STATM = Path("/proc/self/statm")
# Thresholds are process-wide while policies belong to apps, and tests run several apps in one
# process: the thresholds found by the first policy to start come back when the last one closes.
_running: set[FullCollectionPolicy] = set()
_thresholds_before: tuple[int, int, int] | None = None
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """Return the process's resident set size, or None where /proc is not available."""
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE_BYTES
    except (OSError, IndexError, ValueError):
        return None


class FullCollectionPolicy:
    """Collect the young generation as CPython does, and everything else on memory growth or a timer.

    `start` and `close` belong to the gateway's lifespan; `close` restores CPython's thresholds.
    """

    def __init__(
        self,
        interval_s: float,
        growth_percent: float,
        *,
        read_resident: Callable[[], int | None] = resident_bytes,
        clock: Callable[[], float] = time.monotonic,
        check_interval_s: float = CHECK_INTERVAL_S,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(
                f"interval_s must be positive, not {interval_s}; to keep CPython's own policy, do not start one"
            )
        self.interval_s = interval_s
        self.growth = growth_percent / 100
        self.read_resident = read_resident
        self.clock = clock
        self.check_interval_s = min(check_interval_s, interval_s)
        self.collections = 0
        self._baseline: int | None = None
        self._last = clock()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Turn CPython's collections of generations 1 and 2 off and start checking the triggers."""
        global _thresholds_before
        if self._task is not None:
            return
        if not _running:
            _thresholds_before = gc.get_threshold()
        _running.add(self)
        gc.set_threshold(gc.get_threshold()[0], NEVER, NEVER)
        self._baseline = self.read_resident()
        self._last = self.clock()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="full garbage collections")
        logger.info(
            "full garbage collections: on %.1f%% memory growth or every %.0f s (FISHWATCH_GC_FULL_COLLECTION_*)",
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
        """Return why a full collection is due now ("memory" or "interval"), or None."""
        if self.clock() - self._last >= self.interval_s:
            return "interval"
        if self._baseline is not None:
            resident = self.read_resident()
            if resident is not None and resident > self._baseline * (1 + self.growth):
                return "memory"
        return None

    def collect(self, reason: str) -> int:
        """Run one full collection now and reset both triggers; return the objects it freed."""
        started = time.perf_counter()
        freed = gc.collect()
        elapsed_ms = (time.perf_counter() - started) * 1000
        self.collections += 1
        self._last = self.clock()
        self._baseline = self.read_resident()
        logger.debug("full garbage collection (%s): %d objects freed in %.1f ms", reason, freed, elapsed_ms)
        return freed

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.check_interval_s)
            reason = self.due()
            if reason is not None:
                self.collect(reason)

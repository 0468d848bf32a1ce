"""Time limits of step attempts, enforced by one timer per engine instead of one per attempt.

`asyncio.timeout` arms a timer handle per attempt, each with its own copy of the context. A
handle cancelled when the attempt ends stays in the event loop's heap until its time comes, or
until cancelled handles are half the heap (asyncio's base_events, CPython 3.11). With a 60 s
limit and steps of about a second, each step in flight thus keeps several objects alive that
every full garbage collection walks. Here a limit costs an integer token, a dict entry and a
(deadline, token) tuple of plain values, which the collector stops tracking.
"""

from __future__ import annotations

import asyncio
import heapq


class StepDeadlines:
    """Time limits that cancel the task of an attempt outliving its limit, as `asyncio.timeout` would.

    Usage, all within the attempt's task::

        token = deadlines.arm(timeout_s)
        try:
            ...  # the attempt
        finally:
            expired = deadlines.disarm(token)

    When `disarm` returns True, the task was cancelled for the limit: the caller calls
    `Task.uncancel()` and reports a timeout when the attempt ended in CancelledError and no
    other cancellation is pending (uncancel returned 0), exactly as `asyncio.timeout` decides.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[float, int]] = []  # (loop time of the deadline, token), stale entries included
        self._tasks: dict[int, asyncio.Task[object]] = {}  # armed token -> task to cancel
        self._expired: set[int] = set()  # tokens whose task was cancelled and that are not disarmed yet
        self._next_token = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

    def arm(self, timeout_s: float) -> int:
        """Start a limit of `timeout_s` seconds for the current task and return its token for `disarm`."""
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("StepDeadlines.arm must be called from a task")
        loop = task.get_loop()
        deadline = loop.time() + timeout_s
        token = self._next_token
        self._next_token += 1
        self._tasks[token] = task
        heapq.heappush(self._heap, (deadline, token))
        if self._timer is None or deadline < self._timer_at:
            self._schedule(loop, deadline)
        return token

    def disarm(self, token: int) -> bool:
        """End the limit of `token`. Return True when it expired and cancelled the task."""
        if self._tasks.pop(token, None) is not None:
            # Drop entries of ended limits once they are most of the heap, so it stays within twice
            # the limits in force (they would otherwise stay until their deadline passed).
            if len(self._heap) > 64 + 2 * len(self._tasks):
                self._heap = [entry for entry in self._heap if entry[1] in self._tasks]
                heapq.heapify(self._heap)
            return False
        if token in self._expired:
            self._expired.discard(token)
            return True
        return False

    @property
    def armed(self) -> int:
        """Number of limits in force."""
        return len(self._tasks)

    def _schedule(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(deadline, self._expire, loop)
        self._timer_at = deadline

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        while self._heap and (self._heap[0][0] <= now or self._heap[0][1] not in self._tasks):
            _, token = heapq.heappop(self._heap)
            task = self._tasks.pop(token, None)
            if task is None:
                continue
            self._expired.add(token)
            task.cancel()
        if self._heap:
            self._schedule(loop, self._heap[0][0])

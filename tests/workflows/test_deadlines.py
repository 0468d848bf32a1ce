"""StepDeadlines: one timer for every attempt's limit, deciding like asyncio.timeout."""

from __future__ import annotations

import asyncio
import time

from workflows.deadlines import StepDeadlines


async def limited(deadlines: StepDeadlines, timeout_s: float, work_s: float, expiries: list[bool] | None = None) -> str:
    """Work for `work_s` under a limit of `timeout_s` and return how the attempt ended, decided as the driver does."""
    token = deadlines.arm(timeout_s)
    expired = False
    try:
        try:
            await asyncio.sleep(work_s)
        finally:
            expired = deadlines.disarm(token)
            if expiries is not None:
                expiries.append(expired)
            pending = asyncio.current_task().uncancel() if expired else 0  # type: ignore[union-attr]
        return "finished"
    except asyncio.CancelledError:
        if not expired or pending > 0:
            raise
        return "timed out"


async def test_deadline_cancels_late_attempt() -> None:
    deadlines = StepDeadlines()
    started = time.monotonic()
    outcome = await limited(deadlines, 0.05, 5.0)
    assert outcome == "timed out"
    assert time.monotonic() - started < 1.0
    assert deadlines.armed == 0


async def test_deadline_spares_prompt_attempt() -> None:
    deadlines = StepDeadlines()
    assert await limited(deadlines, 0.2, 0.01) == "finished"
    await asyncio.sleep(0.3)  # past the ended limit: nothing may fire late
    assert deadlines.armed == 0


async def test_deadlines_expire_in_order_of_deadline() -> None:
    deadlines = StepDeadlines()
    # Armed latest first, so each new limit moves the timer earlier.
    outcomes = await asyncio.gather(
        limited(deadlines, 5.0, 0.2),
        limited(deadlines, 0.1, 5.0),
        limited(deadlines, 0.05, 0.01),
    )
    assert outcomes == ["finished", "timed out", "finished"]
    assert deadlines.armed == 0


async def test_outside_cancel_wins_over_deadline() -> None:
    deadlines = StepDeadlines()
    expiries: list[bool] = []
    task = asyncio.get_running_loop().create_task(limited(deadlines, 0.0, 5.0, expiries))
    await asyncio.sleep(0)  # the task arms a limit that expires in the next loop iteration
    await asyncio.sleep(0)  # now in that iteration, where the deadline fires right after this cancel
    task.cancel()
    outcome = await asyncio.gather(task, return_exceptions=True)
    assert expiries == [True]
    assert isinstance(outcome[0], asyncio.CancelledError)
    assert deadlines.armed == 0


async def test_outside_cancel_without_deadline_propagates() -> None:
    deadlines = StepDeadlines()
    task = asyncio.get_running_loop().create_task(limited(deadlines, 5.0, 5.0))
    await asyncio.sleep(0.01)
    task.cancel()
    outcome = await asyncio.gather(task, return_exceptions=True)
    assert isinstance(outcome[0], asyncio.CancelledError)
    assert deadlines.armed == 0


async def test_ended_limits_do_not_pile_up() -> None:
    deadlines = StepDeadlines()
    for _ in range(1000):
        assert await limited(deadlines, 60.0, 0) == "finished"
    assert deadlines.armed == 0
    assert len(deadlines._heap) <= 64

"""Starting runs from bus events and from cron schedules.

Both triggers pass an idempotency key derived from what fired them (the event id, or the cron
slot). The run store keeps the first run per key, so every replica can listen and schedule at
the same time and each event or slot still starts exactly one run.

Missed slots: when the scheduler starts, it fires the most recent slot that passed within the
catch-up window (`workflow_cron_catchup_s`) and skips older ones with a log line, because
replaying a backlog of, say, nightly retrains after a long outage would only queue stale work.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from typing import Any

from croniter import croniter

from common.errors import FishWatchError
from workflows import expressions
from workflows.engine import WorkflowEngine
from workflows.model import EventTrigger, ScheduleTrigger, Template

logger = logging.getLogger(__name__)

RESUBSCRIBE_DELAY_S = 1.0
# The scheduler wakes at least this often, so a wall-clock jump is noticed within this time.
MAX_SLEEP_S = 30.0


class EventTriggers:
    """Subscribes to the event types templates listen for and starts a run per matching event."""

    def __init__(self, engine: WorkflowEngine, bus: Any) -> None:
        self.engine = engine
        self.bus = bus
        self._tasks: set[asyncio.Task[None]] = set()
        self.by_type: dict[str, list[tuple[Template, EventTrigger]]] = {}
        for template in engine.catalog.templates.values():
            for trigger in template.event_triggers:
                self.by_type.setdefault(trigger.event_type, []).append((template, trigger))

    async def start(self) -> None:
        if not self.by_type:
            return
        if self.bus is None:
            logger.warning("workflow event triggers disabled: this gateway runs without an event bus (%s)",
                           ", ".join(sorted(self.by_type)))
            return
        loop = asyncio.get_running_loop()
        ready = []
        for event_type in self.by_type:
            subscribed = asyncio.Event()
            ready.append(subscribed)
            self._tasks.add(
                loop.create_task(self._listen(event_type, subscribed), name=f"workflow-trigger-{event_type}")
            )
        # Return once every subscription is live, so no event published after start() is missed.
        await asyncio.gather(*(subscribed.wait() for subscribed in ready))
        logger.info("workflow event triggers listening for: %s", ", ".join(sorted(self.by_type)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _listen(self, event_type: str, subscribed: asyncio.Event) -> None:
        while True:
            try:
                async with self.bus.subscribe(types=[event_type]) as subscription:
                    subscribed.set()
                    async for event in subscription:
                        await self.handle(event)
                return
            except FishWatchError as exc:
                # NOTE: events published between losing and renewing the subscription start no run.
                logger.error("workflow trigger on %s lost its subscription (%s); subscribing again in %.1f s",
                             event_type, exc.message, RESUBSCRIBE_DELAY_S)
                subscribed.set()
                await asyncio.sleep(RESUBSCRIBE_DELAY_S)

    async def handle(self, event: Any) -> None:
        """Start one run per template whose trigger matches the event; FishWatchErrors are logged, not raised."""
        payload = event.to_dict()
        scope = {"event": payload}
        for template, trigger in self.by_type.get(event.type, []):
            try:
                if trigger.filter is not None and not expressions.truthy(
                    expressions.evaluate(trigger.filter, scope, "filter")
                ):
                    continue
                run_input = expressions.render(trigger.input, scope, "input")
                run = await self.engine.start_run(
                    template.name,
                    run_input,
                    idempotency_key=f"event:{event.id}",
                    trigger={"kind": "event", "event_id": event.id, "event_type": event.type, "event": payload},
                )
                logger.info("workflow %s started by event %s (%s): run %s", template.name, event.id, event.type,
                            run.id)
            except FishWatchError as exc:
                logger.error("workflow %s not started by event %s (%s): %s", template.name, event.id, event.type,
                             exc.message)


class CronScheduler:
    """Fires every schedule of every template at its cron slots (UTC)."""

    def __init__(self, engine: WorkflowEngine, catchup_s: float) -> None:
        self.engine = engine
        self.catchup_s = catchup_s
        self.schedules: list[tuple[Template, int, ScheduleTrigger]] = [
            (template, index, schedule)
            for template in engine.catalog.templates.values()
            for index, schedule in enumerate(template.schedules)
        ]
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.schedules:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="workflow-cron")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        now = time.time()
        due: list[float] = []
        for template, index, schedule in self.schedules:
            previous = croniter(schedule.cron, now).get_prev(float)
            if now - previous <= self.catchup_s:
                await self.fire(template, index, schedule, previous)
            else:
                logger.info("workflow %s schedule '%s': last slot %s passed over %.0f s ago; skipped (catch-up "
                            "window %.0f s)", template.name, schedule.cron, _iso(previous), now - previous,
                            self.catchup_s)
            due.append(croniter(schedule.cron, now).get_next(float))
        while True:
            wait_s = min(due) - time.time()
            if wait_s > 0:
                await asyncio.sleep(min(wait_s, MAX_SLEEP_S))
                continue
            for position, (template, index, schedule) in enumerate(self.schedules):
                if due[position] <= time.time():
                    await self.fire(template, index, schedule, due[position])
                    due[position] = croniter(schedule.cron, due[position]).get_next(float)

    async def fire(self, template: Template, index: int, schedule: ScheduleTrigger, slot: float) -> None:
        """Start the run of one slot; the slot's idempotency key makes a second start a no-op."""
        slot_iso = _iso(slot)
        try:
            run = await self.engine.start_run(
                template.name,
                schedule.input,
                idempotency_key=f"schedule:{index}:{slot_iso}",
                trigger={"kind": "schedule", "cron": schedule.cron, "slot": slot_iso},
            )
            logger.info("workflow %s schedule '%s' slot %s: run %s", template.name, schedule.cron, slot_iso, run.id)
        except FishWatchError as exc:
            logger.error("workflow %s schedule '%s' slot %s not started: %s", template.name, schedule.cron, slot_iso,
                         exc.message)


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat().replace("+00:00", "Z")

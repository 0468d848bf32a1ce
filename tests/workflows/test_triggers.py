"""Event and cron triggers: one run per event or slot, however many replicas listen."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from croniter import croniter

from connectors.actions import ActionRegistry
from subscriptions.events import CloudEvent
from tests.workflows.conftest import running_engine, wait_for_run, write_template
from workflows.redis_store import RedisRunStore
from workflows.store import RunQuery
from workflows.triggers import CronScheduler, EventTriggers, _iso

ON_ALERT = """
name: on-alert
version: 1
input_schema:
  type: object
  required: [alert_id, farm_id]
  properties: {alert_id: {type: string}, farm_id: {type: string}}
triggers:
  events:
    - type: com.fishwatch.alert.raised
      filter: "event.data.severity == 'critical'"
      input: {alert_id: "${event.data.alertId}", farm_id: "${event.farmid}"}
  schedules:
    - cron: "*/5 * * * *"
      input: {alert_id: scheduled-check, farm_id: farm-001}
steps:
  - id: note
    kind: action
    action: test.echo
    inputs: {value: "${event.data.alertId}"}
"""


def alert(severity: str, alert_id: str = "alr-000123") -> CloudEvent:
    return CloudEvent.new(
        "com.fishwatch.alert.raised", "/alerting", {"alertId": alert_id, "severity": severity}, farm_id="farm-001"
    )


@pytest.fixture
async def shared_store(workflow_redis_url: str) -> AsyncIterator[RedisRunStore]:
    store = RedisRunStore(workflow_redis_url, prefix=f"fwtrig-{uuid.uuid4().hex[:8]}:wf")
    await store.start()
    yield store
    await store.close()


async def _runs_of(store: Any, count: int) -> list[Any]:
    deadline = time.monotonic() + 5
    while True:
        runs, _ = await store.list_runs(RunQuery(template="on-alert"), 0, 100)
        if len(runs) >= count or time.monotonic() > deadline:
            return runs
        await asyncio.sleep(0.01)


async def test_event_starts_one_run_per_event(tmp_path: Path, shared_store: RedisRunStore, bus: Any,
                                              actions: ActionRegistry) -> None:
    write_template(tmp_path, "on-alert", ON_ALERT)
    async with running_engine(tmp_path, shared_store, bus, actions, replica_id="a") as first, \
            running_engine(tmp_path, shared_store, bus, actions, replica_id="b") as second:
        listeners = [EventTriggers(first, bus), EventTriggers(second, bus)]
        for listener in listeners:
            await listener.start()
        try:
            await bus.publish(alert("warning", "alr-000001"))
            critical = alert("critical", "alr-000002")
            await bus.publish(critical)
            runs = await _runs_of(shared_store, 1)
            done = await wait_for_run(first, runs[0].id)
            await asyncio.sleep(0.1)
            runs_later = await _runs_of(shared_store, 2)
        finally:
            for listener in listeners:
                await listener.close()
    assert len(runs_later) == 1
    assert done.input == {"alert_id": "alr-000002", "farm_id": "farm-001"}
    assert done.trigger["kind"] == "event"
    assert done.trigger["event_id"] == critical.id
    assert done.idempotency_key == f"event:{critical.id}"
    assert done.steps["note"].output == {"value": "alr-000002"}


async def test_event_with_bad_input_is_logged(tmp_path: Path, bus: Any, actions: ActionRegistry,
                                              caplog: pytest.LogCaptureFixture) -> None:
    from workflows.store import MemoryRunStore

    write_template(tmp_path, "on-alert", ON_ALERT)
    store = MemoryRunStore()
    async with running_engine(tmp_path, store, bus, actions) as engine:
        listener = EventTriggers(engine, bus)
        event = CloudEvent.new("com.fishwatch.alert.raised", "/alerting", {"severity": "critical"},
                               farm_id="farm-001")
        with caplog.at_level(logging.ERROR, logger="workflows.triggers"):
            await listener.handle(event)
        _, total = await store.list_runs(RunQuery(), 0, 10)
    assert total == 0
    assert f"workflow on-alert not started by event {event.id}" in caplog.text
    assert "alert_id: None is not of type 'string'" in caplog.text


async def test_cron_slot_fires_once(tmp_path: Path, shared_store: RedisRunStore, bus: Any,
                                    actions: ActionRegistry) -> None:
    write_template(tmp_path, "on-alert", ON_ALERT)
    async with running_engine(tmp_path, shared_store, bus, actions, replica_id="a") as first, \
            running_engine(tmp_path, shared_store, bus, actions, replica_id="b") as second:
        schedulers = [CronScheduler(first, 300), CronScheduler(second, 300)]
        template = first.catalog.templates["on-alert"]
        slot = croniter("*/5 * * * *", time.time()).get_prev(float)
        for scheduler in schedulers:
            await scheduler.fire(template, 0, template.schedules[0], slot)
        await schedulers[0].fire(template, 0, template.schedules[0], slot + 300)
        runs = await _runs_of(shared_store, 2)
        for run in runs:
            await wait_for_run(first, run.id)
    assert len(runs) == 2
    assert sorted(run.trigger["slot"] for run in runs) == sorted([slot_iso(slot), slot_iso(slot + 300)])
    assert all(run.trigger["kind"] == "schedule" for run in runs)


def slot_iso(timestamp: float) -> str:
    return _iso(timestamp)


async def test_cron_start_catches_up_recent_slot(tmp_path: Path, bus: Any, actions: ActionRegistry,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    from workflows.store import MemoryRunStore

    write_template(tmp_path, "on-alert", ON_ALERT)
    store = MemoryRunStore()
    async with running_engine(tmp_path, store, bus, actions) as engine:
        every_slot = CronScheduler(engine, catchup_s=3600)
        await every_slot.start()
        runs = await _runs_of(store, 1)
        await every_slot.close()
        with caplog.at_level(logging.INFO, logger="workflows.triggers"):
            none_missed = CronScheduler(engine, catchup_s=0)
            await none_missed.start()
            await asyncio.sleep(0.05)
            await none_missed.close()
        runs_after, _ = await store.list_runs(RunQuery(), 0, 10)
    assert len(runs) == 1
    assert runs[0].trigger["kind"] == "schedule"
    # The slot the first scheduler caught up is not started twice, and a zero window skips it.
    assert len(runs_after) == 1
    assert "skipped (catch-up window 0 s)" in caplog.text

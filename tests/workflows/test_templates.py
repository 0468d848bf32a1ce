"""The shipped templates, run against the sandbox subsystems (Core, Acquisition, Fabric, Alerting, MLflow)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from common.errors import UpstreamRejectedError
from connectors.actions import Action, ActionRegistry, default_actions
from connectors.registry import Connectors
from gateway.settings import load_settings
from gateway.subsystems import build_connectors
from sandbox.server import Sandbox
from subscriptions.events import CloudEvent
from tests.conftest import subsystem_settings
from tests.workflows.conftest import running_engine, wait_for_run, wait_for_step
from workflows.engine import WorkflowEngine
from workflows.loader import SHIPPED_TEMPLATES_DIR
from workflows.records import RunStatus, StepStatus
from workflows.store import MemoryRunStore, RunQuery
from workflows.triggers import EventTriggers


@pytest.fixture(scope="module")
async def own_sandbox() -> AsyncIterator[Sandbox]:
    """A sandbox of these tests alone, because they move the champion alias and add farms."""
    sandbox = Sandbox(seed=7)
    await sandbox.start()
    yield sandbox
    await sandbox.close()


@pytest.fixture
async def connectors(own_sandbox: Sandbox) -> AsyncIterator[Connectors]:
    settings = load_settings({}, **subsystem_settings(own_sandbox.urls))
    urls = {name: str(getattr(own_sandbox.urls, name)) for name in ("core", "acquisition", "fabric", "alerting",
                                                                      "mlflow")}
    built = build_connectors(settings, urls)
    await built.start()
    yield built
    await built.close()


@pytest.fixture
async def engine(connectors: Connectors, bus: Any) -> AsyncIterator[WorkflowEngine]:
    async with running_engine(SHIPPED_TEMPLATES_DIR, MemoryRunStore(), bus, default_actions(),
                              connectors=connectors) as started:
        yield started


async def _collect(subscription: Any, count: int) -> list[CloudEvent]:
    events: list[CloudEvent] = []

    async def read() -> None:
        async for event in subscription:
            events.append(event)
            if len(events) == count:
                return

    await asyncio.wait_for(read(), 10)
    return events


RETRAIN_INPUT = {
    "from": "2025-01-01T00:00:00Z",
    "to": "2026-11-01T00:00:00Z",
    "artifact_path": "model",
    "params": {"model_type": "thermal_growth", "tgc_atlantic_salmon": "3.0"},
}


async def test_retrain_promotes_only_better_model(engine: WorkflowEngine, connectors: Connectors, bus: Any) -> None:
    async with bus.subscribe(types=["com.fishwatch.model."]) as subscription:
        better = await engine.start_run("retrain-harvest-forecast", {**RETRAIN_INPUT, "metrics": {"rmse": 150.0}})
        better_done = await wait_for_run(engine, better.id)
        promoted_events = await _collect(subscription, 2)
    champion = await connectors.mlops.model_version_by_alias("harvest-forecast", "champion")
    worse = await engine.start_run("retrain-harvest-forecast", {**RETRAIN_INPUT, "metrics": {"rmse": 180.0}})
    worse_done = await wait_for_run(engine, worse.id)
    champion_after = await connectors.mlops.model_version_by_alias("harvest-forecast", "champion")
    run = (await connectors.mlops.runs([better_done.steps["mlflow_run"].output["run_id"]]))[0]

    steps = better_done.steps
    assert better_done.status is RunStatus.SUCCEEDED, better_done.error
    assert steps["export"].output["dataset_id"] == "ds-harvest-history"
    assert steps["champion"].output["value"] == pytest.approx(211.7)
    assert steps["decide"].output["result"] is True
    assert steps["promote"].status is StepStatus.SUCCEEDED
    assert champion.version == steps["register"].output["version"]
    assert champion.run_id == run.info.run_id
    assert run.info.status == "FINISHED"
    assert {m.key: m.value for m in run.data.metrics} == {"rmse": 150.0}
    params = {p.key: p.value for p in run.data.params}
    assert params["training_data"] == steps["export"].output["uri"]
    assert params["tgc_atlantic_salmon"] == "3.0"
    assert [event.type for event in promoted_events] == [
        "com.fishwatch.model.alias.moved", "com.fishwatch.model.version.registered",
    ] or [event.type for event in promoted_events] == [
        "com.fishwatch.model.version.registered", "com.fishwatch.model.alias.moved",
    ]
    registered = next(e for e in promoted_events if e.type.endswith("registered"))
    assert registered.data is not None
    assert registered.data["promoted"] is True
    assert registered.data["championRmse"] == pytest.approx(211.7)

    assert worse_done.status is RunStatus.SUCCEEDED
    assert worse_done.steps["champion"].output["value"] == pytest.approx(150.0)
    assert worse_done.steps["promote"].status is StepStatus.SKIPPED
    assert worse_done.steps["announce_alias"].status is StepStatus.SKIPPED
    assert champion_after.version == champion.version


async def test_retrain_failure_marks_mlflow_run(engine: WorkflowEngine, connectors: Connectors) -> None:
    # Registration fails for good (a registry that rejects the version), after the MLflow run exists.
    async def reject(connectors: Any, args: Any, key: str) -> Any:
        raise UpstreamRejectedError("mlflow answered 403 to POST model-versions/create: registry is read-only",
                                    subsystem="mlflow", status=403)

    shipped = default_actions()
    registry = ActionRegistry([shipped.get(name) for name in shipped.names() if name != "mlops.create_model_version"])
    original = shipped.get("mlops.create_model_version")
    registry.register(Action(original.name, original.description, original.args, reject))
    engine.env.actions = registry
    champion_before = await connectors.mlops.model_version_by_alias("harvest-forecast", "champion")

    run = await engine.start_run("retrain-harvest-forecast", {**RETRAIN_INPUT, "metrics": {"rmse": 100.0}})
    done = await wait_for_run(engine, run.id)
    mlflow_run = (await connectors.mlops.runs([done.steps["mlflow_run"].output["run_id"]]))[0]
    champion = await connectors.mlops.model_version_by_alias("harvest-forecast", "champion")
    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert done.error["step_id"] == "register"
    assert done.error["code"] == "UPSTREAM_REJECTED"
    for step_id in ("champion", "decide", "promote", "announce_version", "announce_alias"):
        assert done.steps[step_id].status is StepStatus.SKIPPED, step_id
    assert done.steps["mark_run_failed"].status is StepStatus.SUCCEEDED
    assert mlflow_run.info.status == "FAILED"
    assert champion.version == champion_before.version


def _alert_event(kind: str, alert_id: str, **data: Any) -> CloudEvent:
    return CloudEvent.new(
        f"com.fishwatch.alert.{kind}", "/alerting", {"alertId": alert_id, "severity": "critical", **data},
        farm_id="farm-001", enclosure_id="enc-001-01",
    )


async def test_alert_acknowledged_in_time(engine: WorkflowEngine, bus: Any) -> None:
    triggers = EventTriggers(engine, bus)
    await triggers.start()
    try:
        async with bus.subscribe(types=["com.fishwatch.workflow.alert_response."]) as recorded:
            await bus.publish(_alert_event("raised", "alr-900001", message="oxygen 4.1 mg/L"))
            runs: list[Any] = []
            while not runs:
                runs, _ = await engine.list_runs(RunQuery(template="critical-alert-response"), 0, 10)
                await asyncio.sleep(0.01)
            await wait_for_step(engine, runs[0].id, "wait_ack", "waiting")
            await bus.publish(_alert_event("acknowledged", "alr-900001", actor="ingrid"))
            done = await wait_for_run(engine, runs[0].id)
            outcome = (await _collect(recorded, 1))[0]
    finally:
        await triggers.close()
    assert done.status is RunStatus.SUCCEEDED
    assert done.input["message"] == "oxygen 4.1 mg/L"
    assert done.steps["escalate"].status is StepStatus.SKIPPED
    assert outcome.data == {
        "alertId": "alr-900001", "acknowledged": True, "acknowledgedBy": "ingrid", "escalated": False,
        "workflowRunId": done.id,
    }


async def test_alert_escalated_after_deadline(engine: WorkflowEngine, bus: Any) -> None:
    async with bus.subscribe(types=["com.fishwatch.workflow.notification.", "com.fishwatch.workflow.alert_response."]) \
            as notices:
        run = await engine.start_run(
            "critical-alert-response", {"alert_id": "alr-900002", "farm_id": "farm-001", "ack_deadline_s": 0.2}
        )
        done = await wait_for_run(engine, run.id)
        events = await _collect(notices, 3)
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["wait_ack"].output == {"received": False, "event": None}
    assert [event.type for event in events] == [
        "com.fishwatch.workflow.notification.sent",
        "com.fishwatch.workflow.notification.escalated",
        "com.fishwatch.workflow.alert_response.recorded",
    ]
    assert events[1].data is not None
    assert events[1].data["reason"] == "not acknowledged within 0.2 s"
    assert events[2].data is not None
    assert events[2].data["escalated"] is True
    assert all(event.farmid == "farm-001" for event in events)


ONBOARDING = {
    "organization_id": "org-01",
    "name": "Lofoten Nord",
    "region": "norway-north",
    "latitude": 68.2,
    "longitude": 14.6,
    "telemetry_timeout_s": 1.0,
    "enclosures": [
        {"name": "Pen A", "kind": "sea_pen", "volume_m3": 40000,
         "devices": [{"kind": "water_monitor", "model": "AquaSense 3", "serial": "AS3-1001"},
                     {"kind": "camera", "model": "FishEye 2", "serial": "FE2-2001"}]},
        {"name": "Pen B", "kind": "sea_pen", "volume_m3": 38000,
         "devices": [{"kind": "water_monitor", "model": "AquaSense 3", "serial": "AS3-1002"}]},
    ],
}


async def test_onboarding_reports_silent_devices(engine: WorkflowEngine, connectors: Connectors, bus: Any) -> None:
    async with bus.subscribe(types=["com.fishwatch.workflow.onboarding."]) as reports:
        run = await engine.start_run("farm-onboarding", ONBOARDING)
        waiting = await wait_for_step(engine, run.id, "first_telemetry", "waiting")
        farm_id = waiting.steps["farm"].output["id"]
        devices = [device for group in waiting.steps["devices"].output for device in group]
        for device in devices[:2]:
            await bus.publish(CloudEvent.new(
                "com.fishwatch.telemetry.reading", "/mqtt", {"deviceId": device["id"], "measuredAt":
                                                              "2026-12-04T10:00:00Z", "metrics": {"temperature": 7.5}},
                farm_id=farm_id, enclosure_id=device["enclosure_id"],
            ))
        done = await wait_for_run(engine, run.id)
        report = (await _collect(reports, 1))[0]
    farm = (await connectors.core.farms_by_id([farm_id]))[0]
    registered = await connectors.acquisition.devices_by_farm([farm_id])
    enclosures = done.steps["enclosures"].output

    assert done.status is RunStatus.SUCCEEDED
    assert farm.name == "Lofoten Nord"
    assert [enclosure["name"] for enclosure in enclosures] == ["Pen A", "Pen B"]
    assert {device.serial: device.enclosure_id for device in registered} == {
        "AS3-1001": enclosures[0]["id"], "FE2-2001": enclosures[0]["id"], "AS3-1002": enclosures[1]["id"],
    }
    assert report.data is not None
    assert report.data["silentDeviceIds"] == [devices[2]["id"]]
    assert report.data["complete"] is False
    assert report.data["deviceIds"] == [device["id"] for device in devices]

"""The retrain template against a real `mlflow server` (empty registry), with the sandbox for Data Fabric."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.actions import default_actions
from connectors.registry import Connectors
from gateway.settings import load_settings
from gateway.subsystems import build_connectors
from sandbox.server import Sandbox
from tests.integration.conftest import mlflow_executable, mlflow_server  # noqa: F401 (fixtures)
from tests.mlflow_peer import MlflowServer
from tests.workflows.conftest import running_engine, wait_for_run
from workflows.loader import SHIPPED_TEMPLATES_DIR
from workflows.records import RunStatus, StepStatus
from workflows.store import MemoryRunStore

pytestmark = pytest.mark.mlflow

MODEL = "harvest-forecast-wf"
INPUT = {
    "model_name": MODEL,
    "experiment": "harvest-forecast-wf",
    "from": "2025-01-01T00:00:00Z",
    "to": "2026-11-01T00:00:00Z",
    "artifact_path": "model",
    "params": {"model_type": "thermal_growth"},
}


@pytest.fixture
async def connectors(mlflow_server: MlflowServer) -> AsyncIterator[Connectors]:  # noqa: F811
    sandbox = Sandbox(seed=7)
    urls = await sandbox.start()
    addresses = {name: getattr(urls, name) for name in ("core", "acquisition", "fabric", "alerting")}
    addresses["mlflow"] = mlflow_server.url
    settings = load_settings({}, **{f"{name}_url": url for name, url in addresses.items()})
    built = build_connectors(settings, addresses)
    await built.start()
    yield built
    await built.close()
    await sandbox.close()


async def test_retrain_on_real_mlflow(connectors: Connectors, bus: Any) -> None:
    async with running_engine(SHIPPED_TEMPLATES_DIR, MemoryRunStore(), bus, default_actions(),
                              connectors=connectors) as engine:
        first = await engine.start_run("retrain-harvest-forecast", {**INPUT, "metrics": {"rmse": 240.0}})
        first_done = await wait_for_run(engine, first.id, timeout_s=60)
        second = await engine.start_run("retrain-harvest-forecast", {**INPUT, "metrics": {"rmse": 260.0}})
        second_done = await wait_for_run(engine, second.id, timeout_s=60)
        third = await engine.start_run("retrain-harvest-forecast", {**INPUT, "metrics": {"rmse": 200.0}})
        third_done = await wait_for_run(engine, third.id, timeout_s=60)
    champion = await connectors.mlops.model_version_by_alias(MODEL, "champion")
    versions = await connectors.mlops.model_versions(MODEL)
    first_run = (await connectors.mlops.runs([first_done.steps["mlflow_run"].output["run_id"]]))[0]

    assert first_done.status is RunStatus.SUCCEEDED, first_done.error
    # An empty registry has no champion, so the first version is promoted.
    assert first_done.steps["champion"].output == {"version": None, "run_id": None, "value": None}
    assert first_done.steps["promote"].status is StepStatus.SUCCEEDED
    assert second_done.status is RunStatus.SUCCEEDED, second_done.error
    assert second_done.steps["champion"].output["value"] == pytest.approx(240.0)
    assert second_done.steps["promote"].status is StepStatus.SKIPPED
    assert third_done.status is RunStatus.SUCCEEDED, third_done.error
    assert third_done.steps["promote"].status is StepStatus.SUCCEEDED
    assert [version.version for version in versions] == ["3", "2", "1"]
    assert champion.version == "3"
    assert champion.run_id == third_done.steps["mlflow_run"].output["run_id"]
    assert first_run.info.status == "FINISHED"
    assert {metric.key: metric.value for metric in first_run.data.metrics} == {"rmse": 240.0}
    assert {param.key: param.value for param in first_run.data.params}["training_rows"] == str(
        first_done.steps["export"].output["row_count"]
    )

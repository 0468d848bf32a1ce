"""Named connector actions that workflow steps call, such as `core.create_farm`.

Each action declares its arguments as a pydantic model, so templates are checked for unknown
and missing arguments when they load, and argument values are checked when the step runs. An
action receives an idempotency key that stays the same across the retries of one step, so a
subsystem that honours `Idempotency-Key` creates nothing twice. MLflow ignores the header, so its
actions look for an earlier result tagged with the key or linked to the run before they write.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import UpstreamNotFoundError, UpstreamRejectedError, WorkflowActionNotFoundError, WorkflowInputError
from connectors.registry import Connectors

IDEMPOTENCY_TAG = "fishwatch.idempotency_key"

Handler = Callable[[Any, Any, str], Awaitable[Any]]


class ActionArgs(BaseModel):
    """Base of every action's arguments: unknown names are errors, so typos surface at load time."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


@dataclass(frozen=True)
class Action:
    """One callable action: `handler(connectors, args, idempotency_key)` returns JSON-ready data."""

    name: str
    description: str
    args: type[ActionArgs]
    handler: Handler

    def required_args(self) -> set[str]:
        return {name for name, info in self.args.model_fields.items() if info.is_required()}

    def known_args(self) -> set[str]:
        names = set(self.args.model_fields)
        names.update(info.alias for info in self.args.model_fields.values() if info.alias)
        return names

    def parse(self, arguments: dict[str, Any]) -> ActionArgs:
        """Validate resolved arguments; raise WorkflowInputError naming the first bad one."""
        try:
            return self.args.model_validate(arguments)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "<arguments>"
            raise WorkflowInputError(
                f"action {self.name}: argument '{where}' is invalid: {first['msg']}", action=self.name, field=where
            ) from exc


class ActionRegistry:
    """Actions by "subsystem.action" name; the engine resolves names here at load and at run time."""

    def __init__(self, actions: Iterable[Action] = ()) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name} is already registered")
        self._actions[action.name] = action

    def names(self) -> list[str]:
        return sorted(self._actions)

    def get(self, name: str) -> Action:
        action = self._actions.get(name)
        if action is None:
            raise WorkflowActionNotFoundError(
                f"action '{name}' is not registered; known actions: {', '.join(self.names())}", action=name
            )
        return action

    def __contains__(self, name: object) -> bool:
        return name in self._actions


def _dump(value: BaseModel) -> dict[str, Any]:
    return value.model_dump(mode="json")


# Core


class CreateFarmArgs(ActionArgs):
    organization_id: str
    name: str
    region: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


async def _create_farm(connectors: Connectors, args: CreateFarmArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.core.create_farm(**args.model_dump(), idempotency_key=key))


class CreateEnclosureArgs(ActionArgs):
    farm_id: str
    name: str
    kind: str
    volume_m3: float = Field(gt=0)


async def _create_enclosure(connectors: Connectors, args: CreateEnclosureArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.core.create_enclosure(**args.model_dump(), idempotency_key=key))


# Data Acquisition


class DeviceSpec(ActionArgs):
    kind: str
    model: str
    serial: str


class CreateDeviceArgs(DeviceSpec):
    farm_id: str
    enclosure_id: str


async def _create_device(connectors: Connectors, args: CreateDeviceArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.acquisition.create_device(**args.model_dump(), idempotency_key=key))


class CreateDevicesArgs(ActionArgs):
    farm_id: str
    enclosure_id: str
    devices: list[DeviceSpec]


async def _create_devices(connectors: Connectors, args: CreateDevicesArgs, key: str) -> list[dict[str, Any]]:
    created = []
    for index, spec in enumerate(args.devices):
        device = await connectors.acquisition.create_device(
            farm_id=args.farm_id, enclosure_id=args.enclosure_id, **spec.model_dump(), idempotency_key=f"{key}:{index}"
        )
        created.append(_dump(device))
    return created


# Data Fabric


class ExportDatasetArgs(ActionArgs):
    dataset_id: str
    start: dt.datetime = Field(alias="from")
    end: dt.datetime = Field(alias="to")
    farm_ids: list[str] | None = None


async def _export_dataset(connectors: Connectors, args: ExportDatasetArgs, key: str) -> dict[str, Any]:
    export = await connectors.fabric.export_dataset(
        dataset_id=args.dataset_id, start=args.start, end=args.end, farm_ids=args.farm_ids, idempotency_key=key
    )
    return _dump(export)


# Alerting


class CreateAlertArgs(ActionArgs):
    farm_id: str
    enclosure_id: str
    metric: str
    value: float
    threshold: float
    severity: str
    message: str


async def _create_alert(connectors: Connectors, args: CreateAlertArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.alerting.create_alert(**args.model_dump(), idempotency_key=key))


class AlertIdArgs(ActionArgs):
    alert_id: str


async def _get_alert(connectors: Connectors, args: AlertIdArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.alerting.alert(args.alert_id))


class AlertChangeArgs(AlertIdArgs):
    actor: str
    note: str | None = None


async def _acknowledge_alert(connectors: Connectors, args: AlertChangeArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.alerting.acknowledge(args.alert_id, actor=args.actor, note=args.note))


async def _resolve_alert(connectors: Connectors, args: AlertChangeArgs, key: str) -> dict[str, Any]:
    return _dump(await connectors.alerting.resolve(args.alert_id, actor=args.actor, note=args.note))


# ML Ops (MLflow)


class EnsureExperimentArgs(ActionArgs):
    name: str


async def _ensure_experiment(connectors: Connectors, args: EnsureExperimentArgs, key: str) -> dict[str, Any]:
    try:
        experiment = await connectors.mlops.experiment_by_name(args.name)
    except UpstreamNotFoundError:
        try:
            return {"experiment_id": await connectors.mlops.create_experiment(args.name), "name": args.name}
        except UpstreamRejectedError:
            # Another caller created it between the lookup and the create (RESOURCE_ALREADY_EXISTS).
            experiment = await connectors.mlops.experiment_by_name(args.name)
    return {"experiment_id": experiment.experiment_id, "name": experiment.name}


class EnsureModelArgs(ActionArgs):
    name: str
    description: str | None = None


async def _ensure_registered_model(connectors: Connectors, args: EnsureModelArgs, key: str) -> dict[str, Any]:
    try:
        model = await connectors.mlops.registered_model(args.name)
    except UpstreamNotFoundError:
        try:
            model = await connectors.mlops.create_registered_model(args.name, args.description)
        except UpstreamRejectedError:
            # Created by another caller between the lookup and the create (RESOURCE_ALREADY_EXISTS).
            model = await connectors.mlops.registered_model(args.name)
    return {"name": model.name, "aliases": {alias.alias: alias.version for alias in model.aliases}}


class CreateRunArgs(ActionArgs):
    experiment_id: str
    run_name: str | None = None
    tags: dict[str, str] = {}


async def _create_run(connectors: Connectors, args: CreateRunArgs, key: str) -> dict[str, Any]:
    # A retry after a lost response must not start a second run, so look for one tagged with the key.
    # NOTE: only the experiment's 200 newest runs are read (the sandbox's MLflow cannot filter runs
    # by tag), so a retry after 200 newer runs in the same experiment would start a second run.
    for run in await connectors.mlops.search_runs(args.experiment_id):
        if any(tag.key == IDEMPOTENCY_TAG and tag.value == key for tag in run.data.tags):
            return _dump(run.info)
    run = await connectors.mlops.create_run(
        experiment_id=args.experiment_id, run_name=args.run_name, tags={**args.tags, IDEMPOTENCY_TAG: key}
    )
    return _dump(run.info)


class LogBatchArgs(ActionArgs):
    run_id: str
    params: dict[str, str | int | float] = {}
    metrics: dict[str, float] = {}


async def _log_batch(connectors: Connectors, args: LogBatchArgs, key: str) -> dict[str, Any]:
    params = {name: str(value) for name, value in args.params.items()}
    await connectors.mlops.log_batch(
        args.run_id, params=params, metrics=args.metrics, timestamp_ms=int(time.time() * 1000)
    )
    return {"run_id": args.run_id, "params": params, "metrics": args.metrics}


class FinishRunArgs(ActionArgs):
    run_id: str
    status: str = "FINISHED"


async def _finish_run(connectors: Connectors, args: FinishRunArgs, key: str) -> dict[str, Any]:
    await connectors.mlops.update_run(args.run_id, status=args.status, end_time_ms=int(time.time() * 1000))
    return {"run_id": args.run_id, "status": args.status}


class CreateModelVersionArgs(ActionArgs):
    name: str
    source: str
    run_id: str
    description: str | None = None


async def _create_model_version(connectors: Connectors, args: CreateModelVersionArgs, key: str) -> dict[str, Any]:
    # One version per run: a retry finds the version an earlier attempt registered.
    existing = await connectors.mlops.model_versions_of_run(args.name, args.run_id)
    if existing:
        return _dump(existing[0])
    version = await connectors.mlops.create_model_version(
        name=args.name, source=args.source, run_id=args.run_id, description=args.description
    )
    return _dump(version)


class AliasMetricArgs(ActionArgs):
    name: str
    alias: str
    metric: str


async def _alias_metric(connectors: Connectors, args: AliasMetricArgs, key: str) -> dict[str, Any]:
    """Return the version behind an alias and the latest value of one metric of its run (null if none)."""
    try:
        version = await connectors.mlops.model_version_by_alias(args.name, args.alias)
    except UpstreamNotFoundError:
        return {"version": None, "run_id": None, "value": None}
    value = None
    if version.run_id:
        runs = await connectors.mlops.runs([version.run_id])
        points = [metric for metric in runs[0].data.metrics if metric.key == args.metric]
        if points:
            value = max(points, key=lambda point: (point.timestamp or 0, point.step or 0)).value
    return {"version": version.version, "run_id": version.run_id, "value": value}


class SetAliasArgs(ActionArgs):
    name: str
    alias: str
    version: str


async def _set_alias(connectors: Connectors, args: SetAliasArgs, key: str) -> dict[str, Any]:
    await connectors.mlops.set_alias(args.name, args.alias, args.version)
    return {"name": args.name, "alias": args.alias, "version": args.version}


def _action(name: str, description: str, args: type[ActionArgs], handler: Any) -> Action:
    return Action(name=name, description=description, args=args, handler=handler)


def default_actions() -> ActionRegistry:
    """Build the registry of every action the shipped connectors offer."""
    return ActionRegistry(
        [
            _action("core.create_farm", "Register a farm in Core.", CreateFarmArgs, _create_farm),
            _action("core.create_enclosure", "Register an enclosure in Core.", CreateEnclosureArgs, _create_enclosure),
            _action("acquisition.create_device", "Register one device.", CreateDeviceArgs, _create_device),
            _action(
                "acquisition.create_devices", "Register the devices of one enclosure, in order.",
                CreateDevicesArgs, _create_devices,
            ),
            _action("fabric.export_dataset", "Export a dataset's rows to a file.", ExportDatasetArgs, _export_dataset),
            _action("alerting.create_alert", "Raise an alert.", CreateAlertArgs, _create_alert),
            _action("alerting.get_alert", "Read an alert with its history.", AlertIdArgs, _get_alert),
            _action("alerting.acknowledge_alert", "Acknowledge an alert.", AlertChangeArgs, _acknowledge_alert),
            _action("alerting.resolve_alert", "Resolve an alert.", AlertChangeArgs, _resolve_alert),
            _action(
                "mlops.ensure_experiment", "Return an MLflow experiment's id, creating it if missing.",
                EnsureExperimentArgs, _ensure_experiment,
            ),
            _action(
                "mlops.ensure_registered_model", "Return a registered model, creating it if missing.",
                EnsureModelArgs, _ensure_registered_model,
            ),
            _action("mlops.create_run", "Start an MLflow run tagged with the idempotency key.", CreateRunArgs,
                    _create_run),
            _action("mlops.log_batch", "Log params and metrics to an MLflow run.", LogBatchArgs, _log_batch),
            _action("mlops.finish_run", "Set an MLflow run's final status.", FinishRunArgs, _finish_run),
            _action(
                "mlops.create_model_version", "Register a model version for a run (one per run).",
                CreateModelVersionArgs, _create_model_version,
            ),
            _action(
                "mlops.alias_metric", "Read the version behind an alias and one metric of its run.",
                AliasMetricArgs, _alias_metric,
            ),
            _action("mlops.set_alias", "Point a model alias at a version.", SetAliasArgs, _set_alias),
        ]
    )

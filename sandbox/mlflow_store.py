"""In-memory MLflow tracking store and model registry, with MLflow 2.x JSON shapes.

Holds experiments, runs, registered models, model versions and aliases. Timestamps are
milliseconds since the Unix epoch and model versions are numbered from 1 per model, as in MLflow.
Errors carry MLflow's `error_code` and HTTP status so the routes can send them unchanged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

JsonObject = dict[str, Any]
# MLflow rejects these alias names because model URIs already use them.
ALIAS_RESERVED = frozenset({"latest"})


class MlflowError(Exception):
    """An MLflow REST error: `error_code` such as RESOURCE_DOES_NOT_EXIST and its HTTP status."""

    def __init__(self, error_code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status

    @classmethod
    def not_found(cls, message: str) -> MlflowError:
        return cls("RESOURCE_DOES_NOT_EXIST", message, 404)

    @classmethod
    def invalid(cls, message: str) -> MlflowError:
        return cls("INVALID_PARAMETER_VALUE", message, 400)

    @classmethod
    def exists(cls, message: str) -> MlflowError:
        return cls("RESOURCE_ALREADY_EXISTS", message, 400)


@dataclass(slots=True)
class MetricPoint:
    key: str
    value: float
    timestamp: int
    step: int


@dataclass(slots=True)
class Experiment:
    experiment_id: str
    name: str
    artifact_location: str
    creation_time: int
    last_update_time: int
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> JsonObject:
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "artifact_location": self.artifact_location,
            "lifecycle_stage": "active",
            "last_update_time": self.last_update_time,
            "creation_time": self.creation_time,
            "tags": _pairs(self.tags),
        }


@dataclass(slots=True)
class Run:
    run_id: str
    experiment_id: str
    run_name: str
    user_id: str
    status: str
    start_time: int
    end_time: int | None
    artifact_uri: str
    metrics: list[MetricPoint] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def info_json(self) -> JsonObject:
        info: JsonObject = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "run_name": self.run_name,
            "experiment_id": self.experiment_id,
            "user_id": self.user_id,
            "status": self.status,
            "start_time": self.start_time,
            "artifact_uri": self.artifact_uri,
            "lifecycle_stage": "active",
        }
        if self.end_time is not None:
            info["end_time"] = self.end_time
        return info

    def to_json(self) -> JsonObject:
        # MLflow's run data lists the latest value of each metric: highest step, then newest timestamp.
        latest: dict[str, MetricPoint] = {}
        for point in self.metrics:
            current = latest.get(point.key)
            if current is None or (point.step, point.timestamp) >= (current.step, current.timestamp):
                latest[point.key] = point
        metrics = [{"key": p.key, "value": p.value, "timestamp": p.timestamp, "step": p.step} for p in latest.values()]
        params = [{"key": key, "value": value} for key, value in self.params.items()]
        return {
            "info": self.info_json(),
            "data": {"metrics": metrics, "params": params, "tags": _pairs(self.tags)},
            "inputs": {},
        }


@dataclass(slots=True)
class ModelVersion:
    name: str
    version: int
    creation_timestamp: int
    last_updated_timestamp: int
    current_stage: str
    description: str
    source: str
    run_id: str
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self, aliases: list[str]) -> JsonObject:
        return {
            "name": self.name,
            "version": str(self.version),
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "current_stage": self.current_stage,
            "description": self.description,
            "source": self.source,
            "run_id": self.run_id,
            "status": "READY",
            "aliases": aliases,
            "tags": _pairs(self.tags),
        }


@dataclass(slots=True)
class RegisteredModel:
    name: str
    creation_timestamp: int
    last_updated_timestamp: int
    description: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: dict[int, ModelVersion] = field(default_factory=dict)

    def aliases_of(self, version: int) -> list[str]:
        return sorted(alias for alias, target in self.aliases.items() if target == version)

    def version_json(self, version: ModelVersion) -> JsonObject:
        return version.to_json(self.aliases_of(version.version))

    def to_json(self) -> JsonObject:
        # latest_versions holds the newest version of each stage, as MLflow computes it.
        newest: dict[str, ModelVersion] = {}
        for version in self.versions.values():
            if version.current_stage not in newest or version.version > newest[version.current_stage].version:
                newest[version.current_stage] = version
        latest = sorted(newest.values(), key=lambda v: v.version)
        return {
            "name": self.name,
            "creation_timestamp": self.creation_timestamp,
            "last_updated_timestamp": self.last_updated_timestamp,
            "description": self.description,
            "latest_versions": [self.version_json(version) for version in latest],
            "aliases": [{"alias": alias, "version": str(v)} for alias, v in sorted(self.aliases.items())],
            "tags": _pairs(self.tags),
        }


def _pairs(values: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in values.items()]


class MlflowStore:
    """Experiments, runs and the model registry, all in memory."""

    def __init__(self) -> None:
        self.experiments: dict[str, Experiment] = {}
        self.runs: dict[str, Run] = {}
        self.models: dict[str, RegisteredModel] = {}

    # Experiments and runs.

    def experiment(self, experiment_id: str) -> Experiment:
        found = self.experiments.get(experiment_id)
        if found is None:
            raise MlflowError.not_found(f"No Experiment with id={experiment_id} exists")
        return found

    def experiment_by_name(self, name: str) -> Experiment:
        for experiment in self.experiments.values():
            if experiment.name == name:
                return experiment
        raise MlflowError.not_found(f"Could not find experiment with name '{name}'")

    def create_experiment(
        self, name: str, artifact_location: str | None, tags: dict[str, str], now_ms: int
    ) -> Experiment:
        if any(e.name == name for e in self.experiments.values()):
            raise MlflowError.exists(f"Experiment '{name}' already exists.")
        experiment_id = str(max((int(key) for key in self.experiments), default=-1) + 1)
        location = artifact_location or f"mlflow-artifacts:/{experiment_id}"
        experiment = Experiment(experiment_id, name, location, now_ms, now_ms, tags)
        self.experiments[experiment_id] = experiment
        return experiment

    def run(self, run_id: str) -> Run:
        found = self.runs.get(run_id)
        if found is None:
            raise MlflowError.not_found(f"Run with id={run_id} not found")
        return found

    def add_run(self, run: Run) -> Run:
        self.experiment(run.experiment_id)
        self.runs[run.run_id] = run
        return run

    @staticmethod
    def log_param(run: Run, key: str, value: str) -> None:
        # MLflow params are immutable once logged; re-logging the same value is allowed.
        existing = run.params.get(key)
        if existing is not None and existing != value:
            raise MlflowError.invalid(
                f"Changing param values is not allowed. Param with key='{key}' was already logged "
                f"with value='{existing}' for run ID='{run.run_id}'. Attempted logging new value '{value}'."
            )
        run.params[key] = value

    # Registry.

    def model(self, name: str) -> RegisteredModel:
        found = self.models.get(name)
        if found is None:
            raise MlflowError.not_found(f"Registered Model with name={name} not found")
        return found

    def create_model(self, name: str, description: str, tags: dict[str, str], now_ms: int) -> RegisteredModel:
        if name in self.models:
            raise MlflowError.exists(f"Registered Model (name={name}) already exists.")
        model = RegisteredModel(name, now_ms, now_ms, description, tags)
        self.models[name] = model
        return model

    def create_version(
        self,
        name: str,
        source: str,
        run_id: str,
        description: str,
        tags: dict[str, str],
        now_ms: int,
        stage: str = "None",
    ) -> ModelVersion:
        model = self.model(name)
        if run_id:
            self.run(run_id)
        number = max(model.versions, default=0) + 1
        version = ModelVersion(name, number, now_ms, now_ms, stage, description, source, run_id, tags)
        model.versions[number] = version
        model.last_updated_timestamp = now_ms
        return version

    def version(self, name: str, version: str) -> ModelVersion:
        model = self.model(name)
        number = int(version) if version.isdigit() else -1
        found = model.versions.get(number)
        if found is None:
            raise MlflowError.not_found(f"Model Version (name={name}, version={version}) not found")
        return found

    def set_alias(self, name: str, alias: str, version: str, now_ms: int) -> None:
        if alias.lower() in ALIAS_RESERVED or re.fullmatch(r"[vV]\d+", alias):
            raise MlflowError.invalid(f"'{alias}' alias name (case insensitive) is reserved.")
        target = self.version(name, version)
        model = self.model(name)
        model.aliases[alias] = target.version
        model.last_updated_timestamp = now_ms

    def delete_alias(self, name: str, alias: str) -> None:
        self.model(name).aliases.pop(alias, None)

    def version_by_alias(self, name: str, alias: str) -> ModelVersion:
        model = self.model(name)
        number = model.aliases.get(alias)
        if number is None:
            # MLflow 3.17 rejects an unset alias with 400 INVALID_PARAMETER_VALUE, not 404.
            raise MlflowError.invalid(f"Registered model alias {alias} not found.")
        return model.versions[number]

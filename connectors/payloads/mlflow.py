"""MLflow REST API 2.0 payloads (registered models, model versions, runs) and scoring output.

Field names follow MLflow's JSON exactly; timestamps are milliseconds since the Unix epoch.
"""

from __future__ import annotations

from pydantic import Field

from connectors.payloads.common import Payload


class KeyValue(Payload):
    key: str
    value: str | None = None


class ModelAlias(Payload):
    alias: str
    version: str


class ModelVersion(Payload):
    name: str
    version: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    current_stage: str | None = None
    description: str | None = None
    source: str | None = None
    run_id: str | None = None
    status: str | None = None
    aliases: list[str] = []
    tags: list[KeyValue] = []


class RegisteredModel(Payload):
    name: str
    creation_timestamp: int | None = None
    last_updated_timestamp: int | None = None
    description: str | None = None
    latest_versions: list[ModelVersion] = []
    aliases: list[ModelAlias] = []
    tags: list[KeyValue] = []


class RegisteredModelPage(Payload):
    registered_models: list[RegisteredModel] = []
    next_page_token: str | None = None


class RegisteredModelEnvelope(Payload):
    registered_model: RegisteredModel


class ModelVersionEnvelope(Payload):
    model_version: ModelVersion


class ModelVersionPage(Payload):
    model_versions: list[ModelVersion] = []
    next_page_token: str | None = None


class Metric(Payload):
    key: str
    value: float
    timestamp: int | None = None
    step: int | None = None


class RunInfo(Payload):
    run_id: str
    experiment_id: str | None = None
    run_name: str | None = None
    status: str | None = None
    start_time: int | None = None
    end_time: int | None = None
    artifact_uri: str | None = None


class RunData(Payload):
    metrics: list[Metric] = []
    params: list[KeyValue] = []
    tags: list[KeyValue] = []


class Run(Payload):
    info: RunInfo
    data: RunData = Field(default_factory=RunData)


class RunEnvelope(Payload):
    run: Run


class Predictions(Payload):
    predictions: list[float]


class Experiment(Payload):
    experiment_id: str
    name: str
    artifact_location: str | None = None
    lifecycle_stage: str | None = None


class ExperimentEnvelope(Payload):
    experiment: Experiment


class CreatedExperiment(Payload):
    experiment_id: str


class RunPage(Payload):
    runs: list[Run] = []
    next_page_token: str | None = None


class Empty(Payload):
    """The `{}` body MLflow answers to writes that return nothing."""

"""ML Ops connector: MLflow's REST API 2.0 and its model-serving scoring protocol.

Registry and run calls go to the MLflow tracking server; predictions go to `/invocations` of the
model-serving endpoint, which may be another host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from common.errors import UpstreamNotFoundError, UpstreamRejectedError
from connectors.base import Connector, ConnectorConfig
from connectors.payloads.mlflow import (
    CreatedExperiment,
    Empty,
    Experiment,
    ExperimentEnvelope,
    ModelVersion,
    ModelVersionEnvelope,
    ModelVersionPage,
    Predictions,
    RegisteredModel,
    RegisteredModelEnvelope,
    RegisteredModelPage,
    Run,
    RunEnvelope,
    RunPage,
)

_API = "api/2.0/mlflow"


def _quote_filter_value(value: str) -> str:
    """Quote a string for an MLflow search filter, in the quote character it does not contain.

    MLflow's filter parser strips the quotes around a value and unescapes nothing (checked against
    MLflow 3.17.2), so no escape lets a value contain its own quote character. Raises ValueError
    for a value with both quote characters.
    """
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    raise ValueError(f"an MLflow search filter cannot quote {value!r}: it contains both ' and \"")


def _name_filter(name: str) -> str:
    """Build an MLflow search filter that matches `name` and possibly other names too.

    A name with both quote characters is searched with LIKE and `_` in place of each single
    quote, so the caller must drop the results whose name differs.
    """
    if "'" in name and '"' in name:
        return "name LIKE '" + name.replace("'", "_") + "'"
    return f"name = {_quote_filter_value(name)}"


class MlopsConnector(Connector):
    """Typed calls to MLflow (registry, runs) and to a served model's scoring endpoint."""

    def __init__(self, config: ConnectorConfig, serving: Connector | None = None) -> None:
        super().__init__(config)
        self.serving = serving or Connector(
            ConnectorConfig(**{**config.__dict__, "name": f"{config.name}-serving"})
        )

    async def start(self) -> None:
        await super().start()
        await self.serving.start()

    async def close(self) -> None:
        await super().close()
        await self.serving.close()

    async def ping(self, path: str = "health") -> None:
        await super().ping(path)

    async def registered_models_page(self, *, limit: int, page_token: str | None) -> RegisteredModelPage:
        params = {"max_results": limit, "page_token": page_token}
        result: RegisteredModelPage = await self.call(
            "GET", f"{_API}/registered-models/search", RegisteredModelPage, params=params
        )
        return result

    async def registered_model(self, name: str) -> RegisteredModel:
        result: RegisteredModelEnvelope = await self.call(
            "GET", f"{_API}/registered-models/get", RegisteredModelEnvelope, params={"name": name}
        )
        return result.registered_model

    async def model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """Return the version `alias` points at, or raise UpstreamNotFoundError if the model or alias is missing."""
        try:
            result: ModelVersionEnvelope = await self.call(
                "GET", f"{_API}/registered-models/alias", ModelVersionEnvelope, params={"name": name, "alias": alias}
            )
        except UpstreamRejectedError as exc:
            # MLflow returns 404 for a missing model but 400 INVALID_PARAMETER_VALUE for a missing
            # alias (checked against MLflow 3.17.2), so the model's alias list decides which it is.
            if exc.details.get("status") != 400:
                raise
            model = await self.registered_model(name)
            if any(item.alias == alias for item in model.aliases):
                raise
            raise UpstreamNotFoundError(
                f"{self.name}: registered model '{name}' has no alias '{alias}'", subsystem=self.name
            ) from exc
        return result.model_version

    async def model_versions(self, name: str, *, max_versions: int = 1000) -> list[ModelVersion]:
        """Return every version of a registered model, newest first, up to `max_versions`.

        MLflow's version search leaves out `aliases` (checked against MLflow 3.17.2), so each
        version's aliases come from the registered model. A missing model has no versions.
        """
        try:
            model = await self.registered_model(name)
        except UpstreamNotFoundError:
            return []
        aliases_by_version: dict[str, list[str]] = {}
        for item in sorted(model.aliases, key=lambda item: item.alias):
            aliases_by_version.setdefault(item.version, []).append(item.alias)

        versions: list[ModelVersion] = []
        token: str | None = None
        while len(versions) < max_versions:
            params: dict[str, str | int | None] = {
                "filter": _name_filter(name),
                "max_results": min(200, max_versions - len(versions)),
                "page_token": token,
            }
            page: ModelVersionPage = await self.call(
                "GET", f"{_API}/model-versions/search", ModelVersionPage, params=params
            )
            versions.extend(
                version.model_copy(update={"aliases": aliases_by_version.get(version.version, [])})
                for version in page.model_versions
                if version.name == name
            )
            token = page.next_page_token
            if not token:
                break
        return sorted(versions, key=lambda version: int(version.version) if version.version.isdigit() else 0,
                      reverse=True)

    async def runs(self, run_ids: Sequence[str]) -> list[Run]:
        # MLflow has no batch get for runs; the calls go out concurrently.
        envelopes: list[RunEnvelope] = await asyncio.gather(
            *(self.call("GET", f"{_API}/runs/get", RunEnvelope, params={"run_id": run_id}) for run_id in run_ids)
        )
        return [envelope.run for envelope in envelopes]

    async def predict(self, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[float]:
        """Score rows with the served model (MLflow scoring protocol, `dataframe_split`)."""
        body = {"dataframe_split": {"columns": list(columns), "data": [list(row) for row in rows]}}
        # Scoring has no side effects, so it is safe to retry.
        result: Predictions = await self.serving.call(
            "POST", "invocations", Predictions, json_body=body, idempotent=True
        )
        return result.predictions

    # Writes. MLflow ignores Idempotency-Key headers, so each write says how a repeat behaves.

    async def experiment_by_name(self, name: str) -> Experiment:
        result: ExperimentEnvelope = await self.call(
            "GET", f"{_API}/experiments/get-by-name", ExperimentEnvelope, params={"experiment_name": name}
        )
        return result.experiment

    async def create_experiment(self, name: str) -> str:
        """Create an experiment and return its id; MLflow answers 400 RESOURCE_ALREADY_EXISTS on a repeat."""
        result: CreatedExperiment = await self.call(
            "POST", f"{_API}/experiments/create", CreatedExperiment, json_body={"name": name}
        )
        return result.experiment_id

    async def create_run(
        self, *, experiment_id: str, run_name: str | None = None, tags: dict[str, str] | None = None,
        start_time_ms: int | None = None,
    ) -> Run:
        """Start a run; a repeat creates a second run, so callers tag runs to find an earlier one."""
        body: dict[str, Any] = {
            "experiment_id": experiment_id,
            "tags": [{"key": key, "value": value} for key, value in (tags or {}).items()],
        }
        if run_name:
            body["run_name"] = run_name
        if start_time_ms is not None:
            body["start_time"] = start_time_ms
        result: RunEnvelope = await self.call("POST", f"{_API}/runs/create", RunEnvelope, json_body=body)
        return result.run

    async def search_runs(self, experiment_id: str, *, max_results: int = 200) -> list[Run]:
        """Return the newest runs of one experiment (read-only POST, safe to retry)."""
        body = {"experiment_ids": [experiment_id], "max_results": max_results}
        result: RunPage = await self.call("POST", f"{_API}/runs/search", RunPage, json_body=body, idempotent=True)
        return result.runs

    async def log_batch(
        self, run_id: str, *, params: dict[str, str] | None = None, metrics: dict[str, float] | None = None,
        timestamp_ms: int,
    ) -> None:
        """Log params and metrics; a repeat logs the same params again (allowed) and duplicate metric points."""
        body = {
            "run_id": run_id,
            "params": [{"key": key, "value": str(value)} for key, value in (params or {}).items()],
            "metrics": [
                {"key": key, "value": float(value), "timestamp": timestamp_ms, "step": 0}
                for key, value in (metrics or {}).items()
            ],
        }
        await self.call("POST", f"{_API}/runs/log-batch", Empty, json_body=body)

    async def update_run(self, run_id: str, *, status: str, end_time_ms: int | None = None) -> None:
        """Set a run's status (FINISHED, FAILED, KILLED); a repeat sets the same status again."""
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_time_ms is not None:
            body["end_time"] = end_time_ms
        await self.call("POST", f"{_API}/runs/update", Empty, json_body=body, idempotent=True)

    async def model_versions_of_run(self, name: str, run_id: str) -> list[ModelVersion]:
        params = {"filter": f"name={_quote_filter_value(name)} AND run_id={_quote_filter_value(run_id)}"}
        page: ModelVersionPage = await self.call(
            "GET", f"{_API}/model-versions/search", ModelVersionPage, params=params
        )
        return page.model_versions

    async def create_model_version(
        self, *, name: str, source: str, run_id: str | None = None, description: str | None = None
    ) -> ModelVersion:
        """Register a new version of a model; a repeat registers another version."""
        body: dict[str, Any] = {"name": name, "source": source}
        if run_id:
            body["run_id"] = run_id
        if description:
            body["description"] = description
        result: ModelVersionEnvelope = await self.call(
            "POST", f"{_API}/model-versions/create", ModelVersionEnvelope, json_body=body
        )
        return result.model_version

    async def create_registered_model(self, name: str, description: str | None = None) -> RegisteredModel:
        """Create a registered model; MLflow answers 400 RESOURCE_ALREADY_EXISTS on a repeat."""
        body: dict[str, Any] = {"name": name}
        if description:
            body["description"] = description
        result: RegisteredModelEnvelope = await self.call(
            "POST", f"{_API}/registered-models/create", RegisteredModelEnvelope, json_body=body
        )
        return result.registered_model

    async def set_alias(self, name: str, alias: str, version: str) -> None:
        """Point `alias` at `version`; setting the same alias twice is a no-op, so it is safe to retry."""
        body = {"name": name, "alias": alias, "version": version}
        await self.call("POST", f"{_API}/registered-models/alias", Empty, json_body=body, idempotent=True)

"""ML Ops connector: MLflow's REST API 2.0 and its model-serving scoring protocol.

Registry and run calls go to the MLflow tracking server; predictions go to `/invocations` of the
model-serving endpoint, which may be another host.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from connectors.base import Connector, ConnectorConfig
from connectors.payloads.mlflow import (
    ModelVersion,
    ModelVersionEnvelope,
    ModelVersionPage,
    Predictions,
    RegisteredModel,
    RegisteredModelEnvelope,
    RegisteredModelPage,
    Run,
    RunEnvelope,
)

_API = "api/2.0/mlflow"


def _quote_filter_value(value: str) -> str:
    """Quote a string for an MLflow search filter (single quotes, backslash escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


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
        result: ModelVersionEnvelope = await self.call(
            "GET", f"{_API}/registered-models/alias", ModelVersionEnvelope, params={"name": name, "alias": alias}
        )
        return result.model_version

    async def model_versions(self, name: str, *, max_versions: int = 1000) -> list[ModelVersion]:
        """Return every version of a registered model, newest first, up to `max_versions`."""
        versions: list[ModelVersion] = []
        token: str | None = None
        while len(versions) < max_versions:
            params: dict[str, str | int | None] = {
                "filter": f"name={_quote_filter_value(name)}",
                "max_results": min(200, max_versions - len(versions)),
                "page_token": token,
            }
            page: ModelVersionPage = await self.call(
                "GET", f"{_API}/model-versions/search", ModelVersionPage, params=params
            )
            versions.extend(page.model_versions)
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

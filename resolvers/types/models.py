"""ML Ops: registered models in MLflow, their versions, aliases and run metrics."""

from __future__ import annotations

import datetime as dt

import strawberry

from connectors.payloads.mlflow import ModelVersion as ModelVersionPayload
from connectors.payloads.mlflow import RegisteredModel as RegisteredModelPayload
from resolvers.arguments import After, First
from resolvers.context import GatewayInfo
from resolvers.pagination import Connection, connection_from_list


def _from_ms(value: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value / 1000, dt.UTC) if value is not None else None


@strawberry.type(description="A metric logged by the MLflow run that produced a model version.")
class ModelMetric:
    key: str = strawberry.field(description='Metric name, for example "rmse".')
    value: float = strawberry.field(description="Last logged value.")
    step: int | None = strawberry.field(description="Training step it was logged at.")
    logged_at: dt.datetime | None = strawberry.field(description="When it was logged (UTC).")


@strawberry.type(description="A parameter of the MLflow run that produced a model version.")
class ModelParam:
    key: str = strawberry.field(description="Parameter name.")
    value: str | None = strawberry.field(description="Parameter value as logged.")


@strawberry.type(description="One version of a registered model.")
class ModelVersion:
    model_name: str = strawberry.field(description="Name of the registered model.")
    version: str = strawberry.field(description='Version number as MLflow assigns it, for example "3".')
    status: str | None = strawberry.field(description='MLflow status, for example "READY".')
    stage: str | None = strawberry.field(description="Legacy MLflow stage, if one was set.")
    description: str | None = strawberry.field(description="Description of the version.")
    source: str | None = strawberry.field(description="Where the model artifacts are stored.")
    run_id: str | None = strawberry.field(description="MLflow run that produced the version.")
    aliases: list[str] = strawberry.field(description='Aliases that point at this version, for example "champion".')
    created_at: dt.datetime | None = strawberry.field(description="When it was registered (UTC).")

    @classmethod
    def from_payload(cls, payload: ModelVersionPayload) -> ModelVersion:
        return cls(
            model_name=payload.name,
            version=payload.version,
            status=payload.status,
            stage=payload.current_stage,
            description=payload.description,
            source=payload.source,
            run_id=payload.run_id,
            aliases=list(payload.aliases),
            created_at=_from_ms(payload.creation_timestamp),
        )

    @strawberry.field(description="Metrics of the run that produced the version; empty without a run.")
    async def metrics(self, info: GatewayInfo) -> list[ModelMetric] | None:
        if not self.run_id:
            return []
        run = await info.context.loaders.mlflow_run.load(self.run_id)
        return [
            ModelMetric(key=metric.key, value=metric.value, step=metric.step, logged_at=_from_ms(metric.timestamp))
            for metric in run.data.metrics
        ]

    @strawberry.field(description="Parameters of the run that produced the version; empty without a run.")
    async def params(self, info: GatewayInfo) -> list[ModelParam] | None:
        if not self.run_id:
            return []
        run = await info.context.loaders.mlflow_run.load(self.run_id)
        return [ModelParam(key=param.key, value=param.value) for param in run.data.params]


@strawberry.type(description="A named pointer from an alias to a model version.")
class ModelAlias:
    alias: str = strawberry.field(description='Alias name, for example "champion".')
    version: str = strawberry.field(description="Version the alias points at.")


@strawberry.type(description="A model registered in MLflow's model registry.")
class RegisteredModel:
    name: str = strawberry.field(description="Registered model name.")
    description: str | None = strawberry.field(description="Description of the model.")
    created_at: dt.datetime | None = strawberry.field(description="When it was registered (UTC).")
    updated_at: dt.datetime | None = strawberry.field(description="When it last changed (UTC).")
    aliases: list[ModelAlias] = strawberry.field(description="Aliases and the versions they point at.")

    @classmethod
    def from_payload(cls, payload: RegisteredModelPayload) -> RegisteredModel:
        return cls(
            name=payload.name,
            description=payload.description,
            created_at=_from_ms(payload.creation_timestamp),
            updated_at=_from_ms(payload.last_updated_timestamp),
            aliases=[ModelAlias(alias=alias.alias, version=alias.version) for alias in payload.aliases],
        )

    @strawberry.field(description="Versions, newest first.")
    async def versions(
        self, info: GatewayInfo, first: First = 50, after: After = None
    ) -> Connection[ModelVersion] | None:
        versions = await info.context.loaders.model_versions.load(self.name)
        return connection_from_list(
            f"model-versions:{self.name}",
            versions,
            ModelVersion.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="The version an alias points at, or null when the alias is not set.")
    async def version_by_alias(self, info: GatewayInfo, alias: str = "champion") -> ModelVersion | None:
        target = next((item.version for item in self.aliases if item.alias == alias), None)
        if target is None:
            return None
        versions = await info.context.loaders.model_versions.load(self.name)
        return next((ModelVersion.from_payload(item) for item in versions if item.version == target), None)

    @strawberry.field(description="The newest version, or null when the model has none.")
    async def latest_version(self, info: GatewayInfo) -> ModelVersion | None:
        versions = await info.context.loaders.model_versions.load(self.name)
        return ModelVersion.from_payload(versions[0]) if versions else None

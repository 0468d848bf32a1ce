"""Data Fabric: the data catalog and aggregates across farms and regions."""

from __future__ import annotations

import datetime as dt

import strawberry

from common.errors import NotFoundError
from connectors.payloads.fabric import Dataset as DatasetPayload
from resolvers.context import GatewayInfo


@strawberry.type(description="One column of a dataset's schema.")
class DatasetColumn:
    name: str = strawberry.field(description="Column name.")
    type: str = strawberry.field(description='Column type, for example "double" or "timestamp".')
    description: str | None = strawberry.field(description="What the column holds, with its unit.")


@strawberry.type(description="A dataset in the Data Fabric catalog.")
class Dataset:
    id: strawberry.ID = strawberry.field(description="Dataset id in the Data Fabric.")
    name: str = strawberry.field(description="Dataset name.")
    description: str | None = strawberry.field(description="What the dataset holds.")
    owner: str = strawberry.field(description="Team or person responsible for it.")
    columns: list[DatasetColumn] = strawberry.field(description="The dataset's schema.")
    updated_at: dt.datetime | None = strawberry.field(description="When it was last refreshed (UTC).")
    freshness_sla_seconds: int | None = strawberry.field(
        description="Maximum age promised by the owner, in seconds, if any."
    )
    upstream_ids: strawberry.Private[list[str]]

    @classmethod
    def from_payload(cls, payload: DatasetPayload) -> Dataset:
        return cls(
            id=strawberry.ID(payload.id),
            name=payload.name,
            description=payload.description,
            owner=payload.owner,
            columns=[
                DatasetColumn(name=col.name, type=col.type, description=col.description) for col in payload.columns
            ],
            updated_at=payload.updated_at,
            freshness_sla_seconds=payload.freshness_sla_s,
            upstream_ids=list(payload.upstream_ids),
        )

    @strawberry.field(description="Whether the dataset is older than its freshness SLA right now.")
    def is_stale(self) -> bool | None:
        if self.updated_at is None or self.freshness_sla_seconds is None:
            return None
        age = dt.datetime.now(dt.UTC) - self.updated_at
        return age.total_seconds() > self.freshness_sla_seconds

    @strawberry.field(description="Lineage: the datasets this one is derived from.")
    async def upstream(self, info: GatewayInfo) -> list[Dataset] | None:
        fabric = info.context.connectors.fabric
        result = []
        for dataset_id in self.upstream_ids:
            try:
                result.append(Dataset.from_payload(await fabric.dataset(dataset_id)))
            except NotFoundError:
                continue  # lineage may name a dataset that has since been removed
        return result


@strawberry.type(description="A reading aggregate for one group (region or farm) on one day.")
class ReadingAggregate:
    region: str | None = strawberry.field(description="Region of the group, when grouped by region.")
    farm_id: strawberry.ID | None = strawberry.field(description="Farm of the group, when grouped by farm.")
    day: dt.date = strawberry.field(description="Day (UTC).")
    value: float = strawberry.field(description="The aggregated value, in the metric's unit.")
    count: int = strawberry.field(description="Number of readings aggregated.")

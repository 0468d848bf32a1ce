"""Data Fabric connector: the data catalog and cross-farm aggregate queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from connectors.base import PagedConnector, segment
from connectors.payloads.common import Page
from connectors.payloads.fabric import AggregateRow, Aggregates, Dataset, Export


class FabricConnector(PagedConnector):
    """Typed calls to the Data Fabric REST API (docs/api/fabric.openapi.yaml)."""

    async def datasets_page(self, *, limit: int, cursor: str | None) -> Page[Dataset]:
        return await self.page("v1/datasets", Dataset, limit=limit, cursor=cursor)

    async def dataset(self, dataset_id: str) -> Dataset:
        result: Dataset = await self.call("GET", f"v1/datasets/{segment(dataset_id)}", Dataset)
        return result

    async def aggregates(
        self,
        *,
        metric: str,
        function: str,
        group_by: Sequence[str],
        start: dt.datetime,
        end: dt.datetime,
        farm_ids: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
    ) -> list[AggregateRow]:
        body = {
            "metric": metric,
            "function": function,
            "group_by": list(group_by),
            "from": start.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "to": end.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "farm_ids": list(farm_ids) if farm_ids is not None else None,
            "regions": list(regions) if regions is not None else None,
        }
        body = {key: value for key, value in body.items() if value is not None}
        # Read-only despite POST (the query travels in the body), so it is safe to retry.
        result: Aggregates = await self.call("POST", "v1/aggregates", Aggregates, json_body=body, idempotent=True)
        return result.items

    async def export_dataset(
        self,
        *,
        dataset_id: str,
        start: dt.datetime,
        end: dt.datetime,
        farm_ids: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> Export:
        """Export a dataset's rows between `start` and `end` to a file; returns its URI and row count."""
        body: dict[str, object] = {
            "dataset_id": dataset_id,
            "from": start.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "to": end.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        }
        if farm_ids is not None:
            body["farm_ids"] = list(farm_ids)
        result: Export = await self.call("POST", "v1/exports", Export, json_body=body, idempotency_key=idempotency_key)
        return result

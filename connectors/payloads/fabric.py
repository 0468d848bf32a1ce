"""Data Fabric payloads: the data catalog and cross-farm aggregates."""

from __future__ import annotations

import datetime as dt

from connectors.payloads.common import Payload


class DatasetColumn(Payload):
    name: str
    type: str
    description: str | None = None


class Dataset(Payload):
    id: str
    name: str
    description: str | None = None
    owner: str
    columns: list[DatasetColumn] = []
    updated_at: dt.datetime | None = None
    freshness_sla_s: int | None = None
    upstream_ids: list[str] = []


class AggregateRow(Payload):
    region: str | None = None
    farm_id: str | None = None
    day: dt.date
    value: float
    count: int


class Aggregates(Payload):
    items: list[AggregateRow]


class Export(Payload):
    id: str
    dataset_id: str
    row_count: int
    uri: str
    created_at: dt.datetime | None = None

"""Core System payloads: organizations, farms, enclosures, stocks, fish, harvests, thresholds."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from connectors.payloads.common import Payload

Metric = Literal["ph", "temperature", "salinity", "dissolved_oxygen"]


class Organization(Payload):
    id: str
    name: str
    country: str | None = None


class Farm(Payload):
    id: str
    organization_id: str
    name: str
    region: str
    latitude: float
    longitude: float
    created_at: dt.datetime | None = None


class Enclosure(Payload):
    id: str
    farm_id: str
    name: str
    kind: str
    volume_m3: float | None = None
    created_at: dt.datetime | None = None


class Stock(Payload):
    enclosure_id: str
    farm_id: str | None = None
    species: str
    count: int
    mean_weight_g: float
    updated_at: dt.datetime | None = None


class Fish(Payload):
    id: str
    enclosure_id: str
    species: str
    tag: str
    length_cm: float | None = None
    weight_g: float | None = None
    tagged_at: dt.datetime | None = None


class Harvest(Payload):
    id: str
    farm_id: str
    enclosure_id: str
    date: dt.date
    species: str
    quantity: int
    total_weight_kg: float
    mean_weight_g: float
    quality_grade: str


class Threshold(Payload):
    id: str
    enclosure_id: str
    metric: Metric
    min: float | None = None
    max: float | None = None
    severity: Literal["info", "warning", "critical"] = "warning"

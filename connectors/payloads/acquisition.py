"""Data Acquisition payloads: devices, water-quality readings and camera observations."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from connectors.payloads.common import Payload
from connectors.payloads.core import Metric


class Device(Payload):
    id: str
    farm_id: str
    enclosure_id: str | None = None
    kind: Literal["water_monitor", "camera"]
    model: str
    serial: str | None = None
    status: Literal["online", "offline", "degraded", "maintenance"]
    last_contact_at: dt.datetime | None = None
    installed_at: dt.datetime | None = None


class LatestReading(Payload):
    enclosure_id: str
    farm_id: str
    metric: Metric
    value: float
    unit: str
    time: dt.datetime


class LatestReadings(Payload):
    items: list[LatestReading]


class ReadingBucket(Payload):
    bucket_start: dt.datetime
    min: float
    max: float
    mean: float
    count: int


class ReadingBuckets(Payload):
    items: list[ReadingBucket]
    unit: str


class Observation(Payload):
    id: str
    enclosure_id: str
    device_id: str | None = None
    time: dt.datetime
    mean_length_cm: float | None = None
    activity_index: float | None = None
    parasite_count: float | None = None

"""Records of the sandbox data set.

Field names are the wire names of the subsystem REST contract, so `http.to_json` can serialise a
record without a mapping table. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

REGIONS = ("norway-west", "norway-north", "scotland", "chile-south", "canada-east")
SPECIES = ("atlantic_salmon", "rainbow_trout", "arctic_char", "cod")
ENCLOSURE_KINDS = ("sea_pen", "tank", "raceway")
METRICS = ("ph", "temperature", "salinity", "dissolved_oxygen")
UNITS = {"ph": "pH", "temperature": "degC", "salinity": "PSU", "dissolved_oxygen": "mg/L"}
DEVICE_KINDS = ("water_monitor", "camera")
DEVICE_STATUSES = ("online", "offline", "degraded", "maintenance")
THRESHOLD_SEVERITIES = ("warning", "critical")
ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATUSES = ("open", "acknowledged", "resolved")
QUALITY_GRADES = ("superior", "ordinary", "production")


@dataclass(slots=True)
class Organization:
    id: str
    name: str
    country: str


@dataclass(slots=True)
class Farm:
    id: str
    organization_id: str
    name: str
    region: str
    latitude: float
    longitude: float
    created_at: datetime


@dataclass(slots=True)
class Enclosure:
    id: str
    farm_id: str
    name: str
    kind: str
    volume_m3: float
    created_at: datetime


@dataclass(slots=True)
class Stock:
    enclosure_id: str
    farm_id: str
    species: str
    count: int
    mean_weight_g: float
    updated_at: datetime


@dataclass(slots=True)
class Fish:
    """An individually tagged fish (beta in the Core API)."""

    id: str
    enclosure_id: str
    species: str
    tag: str
    length_cm: float
    weight_g: float
    tagged_at: datetime


@dataclass(slots=True)
class Harvest:
    id: str
    farm_id: str
    enclosure_id: str
    date: date
    species: str
    quantity: int
    total_weight_kg: float
    mean_weight_g: float
    quality_grade: str


@dataclass(slots=True)
class Threshold:
    """Allowed band [min, max] of one metric in one enclosure; a reading outside it raises an alert."""

    id: str
    enclosure_id: str
    metric: str
    min: float
    max: float
    severity: str


@dataclass(slots=True)
class Device:
    id: str
    farm_id: str
    enclosure_id: str
    kind: str
    model: str
    serial: str
    status: str
    last_contact_at: datetime | None
    installed_at: datetime


@dataclass(slots=True)
class Observation:
    """A camera's 6-hourly summary of the fish it sees."""

    id: str
    enclosure_id: str
    device_id: str
    time: datetime
    mean_length_cm: float
    activity_index: float
    parasite_count: float


@dataclass(slots=True)
class AlertEvent:
    """One status change of an alert, as listed in its history."""

    time: datetime
    status: str
    actor: str
    note: str | None


@dataclass(slots=True)
class Alert:
    id: str
    farm_id: str
    enclosure_id: str
    metric: str
    value: float
    threshold: float
    severity: str
    status: str
    message: str
    raised_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    history: list[AlertEvent] = field(default_factory=list)


@dataclass(slots=True)
class Column:
    name: str
    type: str
    description: str


@dataclass(slots=True)
class Dataset:
    id: str
    name: str
    description: str
    owner: str
    columns: list[Column]
    updated_at: datetime
    freshness_sla_s: int
    upstream_ids: list[str]


@dataclass(slots=True)
class Export:
    id: str
    dataset_id: str
    row_count: int
    uri: str
    created_at: datetime

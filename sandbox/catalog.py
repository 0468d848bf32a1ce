"""The Data Fabric catalogue: datasets, their lineage, and the row counts an export would hold."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sandbox.model import Column, Dataset


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """A dataset and how many rows it holds per enclosure and day, for export row counts."""

    id: str
    name: str
    description: str
    owner: str
    columns: tuple[tuple[str, str, str], ...]
    freshness_sla_s: int
    upstream_ids: tuple[str, ...]
    rows_per_enclosure_day: float
    # Days of history the dataset keeps; None keeps everything since the enclosure was built.
    retention_days: int | None


_KEYS = (
    ("farm_id", "string", "Farm id, e.g. farm-001"),
    ("enclosure_id", "string", "Enclosure id, e.g. enc-001-01"),
)

DATASET_SPECS = (
    DatasetSpec(
        "ds-farm-registry",
        "farm_registry",
        "Daily snapshot of organizations, farms, enclosures and stocks.",
        "core-platform",
        (
            *_KEYS,
            ("day", "date", "Snapshot day (UTC)"),
            ("species", "string", "Stocked species"),
            ("count", "integer", "Fish in the enclosure"),
            ("mean_weight_g", "double", "Mean weight in grams"),
        ),
        86400,
        (),
        1.0,
        None,
    ),
    DatasetSpec(
        "ds-water-readings-raw",
        "water_readings_raw",
        "Every water monitor reading, one row per metric and 10-minute slot.",
        "data-acquisition",
        (
            *_KEYS,
            ("time", "timestamp", "Reading time (UTC)"),
            ("metric", "string", "ph, temperature, salinity or dissolved_oxygen"),
            ("value", "double", "Reading in the metric's unit"),
        ),
        900,
        (),
        4 * 144.0,
        28,
    ),
    DatasetSpec(
        "ds-camera-observations",
        "camera_observations",
        "Six-hourly camera summaries: fish length, activity and sea lice.",
        "data-acquisition",
        (
            *_KEYS,
            ("time", "timestamp", "Observation time (UTC)"),
            ("mean_length_cm", "double", "Mean fish length"),
            ("activity_index", "double", "Swimming activity, 0 to 1"),
            ("parasite_count", "double", "Sea lice per fish"),
        ),
        6 * 3600,
        (),
        4.0,
        None,
    ),
    DatasetSpec(
        "ds-water-quality-hourly",
        "water_quality_hourly",
        "Hourly min, max and mean of each metric per enclosure.",
        "water-quality",
        (
            *_KEYS,
            ("hour", "timestamp", "Start of the hour (UTC)"),
            ("metric", "string", "Metric name"),
            ("min", "double", "Lowest reading"),
            ("max", "double", "Highest reading"),
            ("mean", "double", "Mean reading"),
        ),
        2 * 3600,
        ("ds-water-readings-raw", "ds-farm-registry"),
        4 * 24.0,
        400,
    ),
    DatasetSpec(
        "ds-water-quality-daily",
        "water_quality_daily",
        "Daily summary of each metric per enclosure, with threshold breach minutes.",
        "water-quality",
        (
            *_KEYS,
            ("day", "date", "Day (UTC)"),
            ("metric", "string", "Metric name"),
            ("mean", "double", "Mean reading"),
            ("breach_minutes", "integer", "Minutes outside the warning band"),
        ),
        86400,
        ("ds-water-quality-hourly",),
        4.0,
        None,
    ),
    DatasetSpec(
        "ds-lice-counts-weekly",
        "lice_counts_weekly",
        "Weekly mean sea lice per fish per enclosure, as reported to authorities.",
        "fish-health",
        (
            *_KEYS,
            ("week", "string", "ISO week, e.g. 2026-W47"),
            ("lice_per_fish", "double", "Mean adult female lice per fish"),
        ),
        7 * 86400,
        ("ds-camera-observations", "ds-farm-registry"),
        1 / 7,
        None,
    ),
    DatasetSpec(
        "ds-harvest-history",
        "harvest_history",
        "Every harvest batch with quantity, weight and quality grade.",
        "core-platform",
        (
            *_KEYS,
            ("date", "date", "Harvest day"),
            ("quantity", "integer", "Fish harvested"),
            ("total_weight_kg", "double", "Round weight in kg"),
            ("quality_grade", "string", "superior, ordinary or production"),
        ),
        86400,
        ("ds-farm-registry",),
        0.0,
        None,
    ),
    DatasetSpec(
        "ds-growth-features",
        "growth_features",
        "Daily per-enclosure features for the harvest-forecast model.",
        "ml-platform",
        (
            *_KEYS,
            ("day", "date", "Day (UTC)"),
            ("mean_weight_g", "double", "Mean weight in grams"),
            ("degree_days", "double", "Cumulative degree-days since stocking"),
            ("lice_per_fish", "double", "Latest lice count"),
        ),
        86400,
        ("ds-water-quality-daily", "ds-harvest-history", "ds-camera-observations"),
        1.0,
        None,
    ),
)


def build_datasets(now: datetime) -> list[Dataset]:
    """Return the catalogue, each dataset refreshed within its freshness SLA before `now`."""
    datasets = []
    for index, spec in enumerate(DATASET_SPECS):
        lag_s = spec.freshness_sla_s * (0.2 + 0.1 * (index % 4))
        datasets.append(
            Dataset(
                id=spec.id,
                name=spec.name,
                description=spec.description,
                owner=spec.owner,
                columns=[Column(name, kind, text) for name, kind, text in spec.columns],
                updated_at=(now - timedelta(seconds=lag_s)).replace(microsecond=0),
                freshness_sla_s=spec.freshness_sla_s,
                upstream_ids=list(spec.upstream_ids),
            )
        )
    return datasets


def spec_of(dataset_id: str) -> DatasetSpec | None:
    return next((spec for spec in DATASET_SPECS if spec.id == dataset_id), None)

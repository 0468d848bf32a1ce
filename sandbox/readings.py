"""Raw, bucketed and latest water readings, computed from the water model on request."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sandbox.water import SLOT_S, WaterModel, WaterSite, slot_time

MAX_BUCKETS = 10_000


def slot_range(start: datetime, end: datetime) -> tuple[int, int]:
    """Return the slots whose reading time lies in [start, end)."""
    return math.ceil(start.timestamp() / SLOT_S), math.ceil(end.timestamp() / SLOT_S)


def raw_page(
    water: WaterModel, site: WaterSite, metric: str, start_slot: int, end_slot: int, limit: int
) -> tuple[list[tuple[int, float]], bool]:
    """Return up to `limit` (slot, value) points from `start_slot` on, and whether more follow."""
    points: list[tuple[int, float]] = []
    for point in water.points(site, metric, start_slot, end_slot):
        if len(points) == limit:
            return points, True
        points.append(point)
    return points, False


@dataclass(slots=True)
class Bucket:
    bucket_start: int
    min: float
    max: float
    total: float
    count: int

    def add(self, value: float) -> None:
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.total += value
        self.count += 1


def bucket_count(start: datetime, end: datetime, interval_s: int) -> int:
    """Count the epoch-aligned buckets that [start, end) touches."""
    first = math.floor(start.timestamp() / interval_s) * interval_s
    return math.ceil((end.timestamp() - first) / interval_s)


def aggregate(
    water: WaterModel, site: WaterSite, metric: str, start_slot: int, end_slot: int, interval_s: int
) -> list[Bucket]:
    """Group readings into buckets that start at multiples of `interval_s` since the Unix epoch."""
    buckets: dict[int, Bucket] = {}
    for slot, value in water.points(site, metric, start_slot, end_slot):
        start = slot * SLOT_S // interval_s * interval_s
        bucket = buckets.get(start)
        if bucket is None:
            buckets[start] = Bucket(start, value, value, value, 1)
        else:
            bucket.add(value)
    return list(buckets.values())


def latest(water: WaterModel, site: WaterSite) -> list[tuple[str, float, datetime]]:
    """Return (metric, value, time) of the newest reading of each metric the site reports."""
    slot = water.latest_slot(site)
    if slot is None:
        return []
    return [(metric, water.value(site, metric, slot), slot_time(slot)) for metric in site.metrics]

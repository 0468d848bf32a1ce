"""Daily aggregates of one water metric across enclosures, grouped by region, farm and day.

Per-enclosure daily statistics are cached once computed for a whole day, because a fleet-wide
query over the 28-day window touches about 1.5 million readings and the data never changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sandbox.water import SLOT_S, SLOTS_PER_DAY, WaterModel, WaterSite

GROUP_KEYS = ("region", "farm_id", "day")
FUNCTIONS = ("mean", "min", "max")
# Entries kept in the daily statistics cache: enough for every site, metric and day of the window.
MAX_CACHED_DAYS = 60_000


@dataclass(slots=True)
class Stats:
    min: float
    max: float
    total: float
    count: int

    def merge(self, other: Stats) -> None:
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.total += other.total
        self.count += other.count

    def result(self, function: str) -> float:
        if function == "min":
            return self.min
        if function == "max":
            return self.max
        return round(self.total / self.count, 3)


class DailyStatsCache:
    """Statistics of one site, metric and UTC day, computed from the water model on first use."""

    def __init__(self, water: WaterModel) -> None:
        self.water = water
        self._days: dict[tuple[str, str, int], Stats | None] = {}

    def stats(self, site: WaterSite, metric: str, day_number: int, start_slot: int, end_slot: int) -> Stats | None:
        """Return the statistics of the readings of `day_number` within [start_slot, end_slot)."""
        day_start = day_number * SLOTS_PER_DAY
        day_end = day_start + SLOTS_PER_DAY
        whole_day = start_slot <= day_start and end_slot >= day_end
        key = (site.enclosure_id, metric, day_number)
        if whole_day and key in self._days:
            return self._days[key]

        stats = None
        for _, value in self.water.points(site, metric, max(day_start, start_slot), min(day_end, end_slot)):
            if stats is None:
                stats = Stats(value, value, value, 1)
            else:
                stats.merge(Stats(value, value, value, 1))
        if whole_day and len(self._days) < MAX_CACHED_DAYS:
            self._days[key] = stats
        return stats


@dataclass(frozen=True, slots=True)
class SiteGroup:
    """A site with the region and farm it belongs to."""

    site: WaterSite
    region: str
    farm_id: str


def aggregate(
    cache: DailyStatsCache,
    sites: list[SiteGroup],
    metric: str,
    function: str,
    group_by: list[str],
    start: datetime,
    end: datetime,
) -> list[dict[str, object]]:
    """Return one item per group and UTC day, ordered by the group keys."""
    water = cache.water
    start_slot = max(-(-int(start.timestamp()) // SLOT_S), water.first_slot)
    end_slot = min(-(-int(end.timestamp()) // SLOT_S), water.end_slot)
    groups: dict[tuple[str, ...], Stats] = {}

    for entry in sites:
        if metric not in entry.site.metrics:
            continue
        for day_number in range(start_slot // SLOTS_PER_DAY, (end_slot - 1) // SLOTS_PER_DAY + 1):
            stats = cache.stats(entry.site, metric, day_number, start_slot, end_slot)
            if stats is None:
                continue
            day = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(days=day_number)).date()
            key = _group_key(group_by, entry, day)
            if key in groups:
                groups[key].merge(stats)
            else:
                groups[key] = Stats(stats.min, stats.max, stats.total, stats.count)

    items: list[dict[str, object]] = []
    for key in sorted(groups):
        item: dict[str, object] = dict(zip(group_by, key, strict=True))
        item["value"] = groups[key].result(function)
        item["count"] = groups[key].count
        items.append(item)
    return items


def _group_key(group_by: list[str], entry: SiteGroup, day: date) -> tuple[str, ...]:
    values = {"region": entry.region, "farm_id": entry.farm_id, "day": day.isoformat()}
    return tuple(values[name] for name in group_by)

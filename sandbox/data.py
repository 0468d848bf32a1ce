"""The sandbox data set: every record the subsystem apps serve, built from one seed.

`build_dataset(seed, now)` is deterministic: the same seed and `now` give the same records and
the same readings. Only writes through the APIs change it afterwards.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sandbox.catalog import build_datasets
from sandbox.mlflow_store import MlflowStore
from sandbox.model import Alert, Dataset, Device, Enclosure, Export, Farm, Fish, Harvest, Organization, Stock, Threshold
from sandbox.seed_alerts import add_episodes, raise_alerts
from sandbox.seed_farms import generate_farms, number_harvests
from sandbox.seed_mlflow import seed_mlflow
from sandbox.seed_monitoring import generate_monitoring
from sandbox.water import WaterModel


class SandboxClock:
    """Wall-clock time that starts at the data set's `now` and advances in real time.

    Writes stamp their records with this clock, so an alert acknowledged in a sandbox seeded at
    2026-11-20T06:00:00Z is acknowledged a few seconds after that, never before it was raised.
    """

    def __init__(self, start: datetime) -> None:
        self._start = start
        self._started = time.monotonic()

    def now(self) -> datetime:
        elapsed = time.monotonic() - self._started
        return datetime.fromtimestamp(self._start.timestamp() + elapsed, UTC).replace(microsecond=0)


@dataclass(slots=True)
class SandboxData:
    """Records of all five subsystems; dicts are keyed by id and kept in id order."""

    seed: int
    now: datetime
    clock: SandboxClock
    organizations: dict[str, Organization]
    farms: dict[str, Farm]
    enclosures: dict[str, Enclosure]
    stocks: dict[str, Stock]
    fish: dict[str, Fish]
    harvests: dict[str, Harvest]
    thresholds: dict[str, Threshold]
    devices: dict[str, Device]
    alerts: dict[str, Alert]
    datasets: dict[str, Dataset]
    water: WaterModel
    mlflow: MlflowStore
    exports: dict[str, Export] = field(default_factory=dict)

    def threshold_for(self, enclosure_id: str, metric: str, severity: str) -> Threshold | None:
        for threshold in self.thresholds.values():
            if (threshold.enclosure_id, threshold.metric, threshold.severity) == (enclosure_id, metric, severity):
                return threshold
        return None


def _default_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def build_dataset(seed: int = 7, now: datetime | None = None) -> SandboxData:
    """Generate the data set for `seed` as it stands at `now` (default: the current UTC second)."""
    if now is None:
        now = _default_now()
    if now.tzinfo is None:
        raise ValueError(f"now {now.isoformat()} has no timezone; pass an aware UTC datetime")
    now = now.astimezone(UTC)

    # One random stream per part, so adding records to one part leaves the others unchanged.
    farm_records = generate_farms(random.Random(f"farms:{seed}"), now)
    farms = {farm.id: farm for farm in farm_records.farms}
    enclosures = {enclosure.id: enclosure for enclosure in farm_records.enclosures}
    stocks = {stock.enclosure_id: stock for stock in farm_records.stocks}

    water = WaterModel(seed, now)
    monitoring = generate_monitoring(
        random.Random(f"monitoring:{seed}"), seed, now, farms, farm_records.enclosures, stocks, water
    )
    by_key = {(t.enclosure_id, t.metric, t.severity): t for t in monitoring.thresholds}
    add_episodes(random.Random(f"episodes:{seed}"), water, by_key)
    alerts = raise_alerts(random.Random(f"alerts:{seed}"), water, farms, enclosures, by_key)

    return SandboxData(
        seed=seed,
        now=now,
        clock=SandboxClock(now),
        organizations={org.id: org for org in farm_records.organizations},
        farms=farms,
        enclosures=enclosures,
        stocks=stocks,
        fish={fish.id: fish for fish in farm_records.fish},
        harvests={harvest.id: harvest for harvest in number_harvests(farm_records.harvests)},
        thresholds={threshold.id: threshold for threshold in monitoring.thresholds},
        devices={device.id: device for device in monitoring.devices},
        alerts={alert.id: alert for alert in alerts},
        datasets={dataset.id: dataset for dataset in build_datasets(now)},
        water=water,
        mlflow=seed_mlflow(random.Random(f"mlflow:{seed}"), now),
    )

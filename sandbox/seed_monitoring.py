"""Seeded generation of devices, water sites and thresholds for every enclosure.

Each enclosure gets a water monitor and a camera. A few are offline, degraded or in maintenance,
and the water site mirrors that: an offline monitor's readings stop at its last contact and a
degraded one misses a share of its slots.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from sandbox.model import Device, Enclosure, Farm, Stock, Threshold
from sandbox.seed_farms import make_device
from sandbox.water import CLIMATES, SLOTS_PER_DAY, WaterModel, WaterSite, slot_time, stable_salt

# Threshold bands per water type and metric: (warning (min, max), critical (min, max)).
SEA_BANDS = {
    "ph": ((7.6, 8.4), (7.3, 8.7)),
    "temperature": ((1.0, 17.0), (0.0, 19.0)),
    "salinity": ((31.0, 36.5), (28.0, 38.0)),
    "dissolved_oxygen": ((6.0, 13.0), (5.0, 15.0)),
}
FRESH_BANDS = {
    "ph": ((6.5, 8.0), (6.0, 8.5)),
    "temperature": ((4.0, 17.0), (2.0, 19.0)),
    "dissolved_oxygen": ((6.0, 13.0), (5.0, 15.0)),
}
# Set points of heated or chilled freshwater units, in degC.
TANK_TEMPERATURE_C = {"atlantic_salmon": 12.0, "rainbow_trout": 12.5, "arctic_char": 8.0}
STATUS_WEIGHTS = {"online": 88, "degraded": 5, "offline": 4, "maintenance": 3}


@dataclass(slots=True)
class MonitoringRecords:
    devices: list[Device]
    thresholds: list[Threshold]


def _draw_status(rng: random.Random) -> str:
    return rng.choices(tuple(STATUS_WEIGHTS), weights=tuple(STATUS_WEIGHTS.values()))[0]


def _reporting_end_slot(rng: random.Random, water: WaterModel, status: str) -> int:
    """Return the first slot without readings: in the past for a monitor that stopped reporting."""
    if status == "offline":
        return water.end_slot - rng.randint(12, 5 * SLOTS_PER_DAY)
    if status == "maintenance":
        return water.end_slot - rng.randint(SLOTS_PER_DAY, 3 * SLOTS_PER_DAY)
    return water.end_slot


def generate_monitoring(
    rng: random.Random,
    seed: int,
    now: datetime,
    farms: dict[str, Farm],
    enclosures: list[Enclosure],
    stocks: dict[str, Stock],
    water: WaterModel,
) -> MonitoringRecords:
    """Create devices and thresholds, and register a water site per enclosure in `water`."""
    records = MonitoringRecords([], [])
    for enclosure in enclosures:
        farm = farms[enclosure.farm_id]
        freshwater = enclosure.kind != "sea_pen"

        monitor_status = _draw_status(rng)
        reporting_end = _reporting_end_slot(rng, water, monitor_status)
        site = _make_site(rng, seed, farm, enclosure, stocks[enclosure.id], reporting_end, monitor_status)
        water.add(site)
        latest = water.latest_slot(site)
        last_contact = slot_time(latest) if latest is not None else None
        records.devices.append(make_device(rng, now, enclosure, "water_monitor", monitor_status, last_contact))

        camera_status = _draw_status(rng)
        camera_end = _reporting_end_slot(rng, water, camera_status)
        records.devices.append(make_device(rng, now, enclosure, "camera", camera_status, slot_time(camera_end - 1)))

        bands = FRESH_BANDS if freshwater else SEA_BANDS
        for metric, (warning, critical) in bands.items():
            # Some sites run a stricter oxygen limit for fish recovering from treatment.
            if metric == "dissolved_oxygen" and rng.random() < 0.2:
                warning = (6.5, warning[1])
            for severity, (low, high) in (("warning", warning), ("critical", critical)):
                number = len(records.thresholds) + 1
                records.thresholds.append(Threshold(f"thr-{number:05d}", enclosure.id, metric, low, high, severity))
    return records


def _make_site(
    rng: random.Random,
    seed: int,
    farm: Farm,
    enclosure: Enclosure,
    stock: Stock,
    reporting_end_slot: int,
    monitor_status: str,
) -> WaterSite:
    freshwater = enclosure.kind != "sea_pen"
    metrics = ("ph", "temperature", "salinity", "dissolved_oxygen")
    # Local solar time runs 4 minutes ahead of UTC per degree east.
    solar_shift_slots = round(farm.longitude * 4 * 60 / 600)
    return WaterSite(
        enclosure_id=enclosure.id,
        farm_id=enclosure.farm_id,
        freshwater=freshwater,
        climate=CLIMATES[farm.region],
        solar_shift_slots=solar_shift_slots,
        temperature_c=TANK_TEMPERATURE_C.get(stock.species) if freshwater else None,
        level_offsets={
            "ph": rng.uniform(-0.05, 0.05),
            "temperature": rng.uniform(-0.8, 0.8),
            "salinity": rng.uniform(-0.5, 0.6),
            "dissolved_oxygen": rng.uniform(-0.2, 0.2),
        },
        noise_offsets={metric: rng.randrange(8191) for metric in metrics},
        weather_phases=(rng.uniform(0, 6.283), rng.uniform(0, 6.283)),
        reporting_end_slot=reporting_end_slot,
        gap_ratio=0.2 if monitor_status == "degraded" else 0.0,
        salt=stable_salt(seed, enclosure.id),
    )

"""Camera observations every 6 hours, computed on request like the water readings.

Each observation is a function of (seed, enclosure, time): mean fish length follows the stock's
weight back through its growth, activity peaks in daylight, and sea lice rise with temperature.
Freshwater units carry no sea lice.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from sandbox.data import SandboxData
from sandbox.model import Device, Observation
from sandbox.seed_farms import length_from_weight
from sandbox.water import SLOT_S, WaterSite, unit_hash

OBSERVATION_INTERVAL_S = 6 * 3600
# Daily weight gain of the stocks, used to walk their mean weight back in time.
DAILY_GROWTH_RATE = 0.005
CONDITION_FACTOR = 1.2


@dataclass(frozen=True, slots=True)
class Camera:
    enclosure_id: str
    device: Device
    site: WaterSite
    mean_weight_g: float


def cameras_for(data: SandboxData, enclosure_ids: set[str], farm_ids: set[str]) -> list[Camera]:
    """Return the seeded cameras of the matching enclosures, in enclosure id order."""
    cameras = []
    for enclosure in sorted(data.enclosures.values(), key=lambda e: e.id):
        if enclosure_ids and enclosure.id not in enclosure_ids:
            continue
        if farm_ids and enclosure.farm_id not in farm_ids:
            continue
        site = data.water.sites.get(enclosure.id)
        device = data.devices.get(f"dev-{enclosure.id[4:]}-cam")
        stock = data.stocks.get(enclosure.id)
        if site is None or device is None or stock is None:
            continue
        cameras.append(Camera(enclosure.id, device, site, stock.mean_weight_g))
    return cameras


def observation_key(observation: Observation) -> tuple[int, str]:
    """Sort key of the newest-first order: descending time, then enclosure id."""
    return (-int(observation.time.timestamp()), observation.enclosure_id)


def iterate(
    data: SandboxData,
    cameras: list[Camera],
    start: datetime | None,
    end: datetime | None,
    after: tuple[int, str] | None,
) -> Iterator[Observation]:
    """Yield observations in [start, end) newest first, resuming after the sort key `after`."""
    window_start = data.water.first_slot * SLOT_S
    first_ts = max(window_start, math.ceil(start.timestamp()) if start else window_start)
    end_ts = min(data.now.timestamp(), end.timestamp() if end else data.now.timestamp())
    newest = math.ceil(end_ts / OBSERVATION_INTERVAL_S) * OBSERVATION_INTERVAL_S - OBSERVATION_INTERVAL_S
    if after is not None:
        newest = min(newest, -after[0])

    time_ts = newest
    while time_ts >= first_ts:
        for camera in cameras:
            if after is not None and (-time_ts, camera.enclosure_id) <= after:
                continue
            last_contact = camera.device.last_contact_at
            if last_contact is None or time_ts > last_contact.timestamp():
                continue
            yield _observe(data, camera, time_ts)
        time_ts -= OBSERVATION_INTERVAL_S


def _observe(data: SandboxData, camera: Camera, time_ts: int) -> Observation:
    site = camera.site
    slot = time_ts // SLOT_S
    days_before = (data.now.timestamp() - time_ts) / 86400
    weight_g = camera.mean_weight_g * math.exp(-DAILY_GROWTH_RATE * days_before)
    length_cm = length_from_weight(weight_g, CONDITION_FACTOR) * (1 + 0.03 * (unit_hash(site.salt, slot) - 0.5))

    local_hour = (time_ts / 3600 + site.solar_shift_slots * SLOT_S / 3600) % 24
    daylight = math.cos(2 * math.pi * (local_hour - 13) / 24)
    activity = 0.55 + 0.25 * daylight + 0.2 * (unit_hash(site.salt ^ 0x5A5A, slot) - 0.5)

    lice = 0.0
    if not site.freshwater:
        temperature = data.water.value(site, "temperature", slot)
        site_level = 0.05 + 0.5 * unit_hash(site.salt ^ 0x1CE, 0)
        lice = max(site_level * temperature / 10 * (0.7 + 0.6 * unit_hash(site.salt ^ 0x7A7A, slot)), 0.0)

    time = datetime.fromtimestamp(time_ts, UTC)
    return Observation(
        id=f"obs-{camera.enclosure_id[4:]}-{time:%Y%m%d%H}",
        enclosure_id=camera.enclosure_id,
        device_id=camera.device.id,
        time=time,
        mean_length_cm=round(length_cm, 1),
        activity_index=round(min(max(activity, 0.0), 1.0), 2),
        parasite_count=round(lice, 2),
    )

"""Water readings computed on demand from (seed, enclosure, metric, slot).

A water monitor reports every metric once per 10-minute slot. Materialising 28 days of readings
for hundreds of enclosures would take millions of points, so each value is a pure function of its
slot instead: a seasonal level, a daily cycle in local solar time, two slow "weather" waves,
table-driven noise and any breach episode that covers the slot. Slots are counted from the Unix
epoch, so the same seed gives the same value for the same wall-clock time on every run.
"""

from __future__ import annotations

import math
import random
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

SLOT_S = 600
SLOTS_PER_DAY = 86400 // SLOT_S
WINDOW_DAYS = 28
SEA_METRICS = ("ph", "temperature", "salinity", "dissolved_oxygen")
# NOTE: freshwater monitors carry no salinity probe, so tanks and raceways report three metrics.
FRESH_METRICS = ("ph", "temperature", "dissolved_oxygen")

# A prime period longer than the 4032 slots of the window, so the noise never visibly repeats.
_NOISE_PERIOD = 8191
# Cosine of the hour of day, peaking at 15:00 local solar time (warmest and most photosynthesis).
_DAILY_CYCLE = tuple(math.cos(2 * math.pi * (i / SLOTS_PER_DAY - 15 / 24)) for i in range(SLOTS_PER_DAY))
_TIDE_PERIOD_SLOTS = 12.42 * 3600 / SLOT_S


@dataclass(frozen=True, slots=True)
class RegionClimate:
    """Sea temperature of a region: annual mean and amplitude in degC, warmest day of the year."""

    mean_c: float
    amplitude_c: float
    peak_day_of_year: int


CLIMATES = {
    "norway-west": RegionClimate(10.0, 4.5, 235),
    "norway-north": RegionClimate(8.0, 3.8, 240),
    "scotland": RegionClimate(11.0, 2.8, 240),
    "chile-south": RegionClimate(11.5, 1.8, 50),
    "canada-east": RegionClimate(8.5, 4.3, 235),
}


@dataclass(frozen=True, slots=True)
class Episode:
    """A breach episode: a raised-cosine bump of `amplitude` added to one metric over its slots."""

    metric: str
    start_slot: int
    duration_slots: int
    amplitude: float

    @property
    def end_slot(self) -> int:
        return self.start_slot + self.duration_slots

    def offset(self, slot: int) -> float:
        if slot < self.start_slot or slot >= self.end_slot:
            return 0.0
        phase = (slot - self.start_slot) / self.duration_slots
        return self.amplitude * 0.5 * (1.0 - math.cos(2 * math.pi * phase))


@dataclass(slots=True)
class WaterSite:
    """The water of one enclosure and the monitor that reports it."""

    enclosure_id: str
    farm_id: str
    freshwater: bool
    climate: RegionClimate
    # Local solar time minus UTC, in slots, so the daily cycle peaks in the local afternoon.
    solar_shift_slots: int
    temperature_c: float | None
    level_offsets: dict[str, float]
    noise_offsets: dict[str, int]
    weather_phases: tuple[float, float]
    # Readings exist for slots before this one; an offline monitor stopped at its last contact.
    reporting_end_slot: int
    # Share of slots a degraded monitor misses (0 for a healthy one).
    gap_ratio: float
    salt: int
    episodes: list[Episode] = field(default_factory=list)

    @property
    def metrics(self) -> tuple[str, ...]:
        return FRESH_METRICS if self.freshwater else SEA_METRICS


def slot_of(time: datetime) -> int:
    """Return the slot that contains `time`."""
    return math.floor(time.timestamp()) // SLOT_S


def slot_time(slot: int) -> datetime:
    return datetime.fromtimestamp(slot * SLOT_S, UTC)


def unit_hash(salt: int, slot: int) -> float:
    """Map (salt, slot) to a uniform number in [0, 1); stable across processes, unlike hash()."""
    mixed = (slot * 2654435761 + salt) & 0xFFFFFFFF
    mixed = ((mixed ^ (mixed >> 15)) * 2246822519) & 0xFFFFFFFF
    mixed = ((mixed ^ (mixed >> 13)) * 3266489917) & 0xFFFFFFFF
    return (mixed ^ (mixed >> 16)) / 2**32


def stable_salt(seed: int, text: str) -> int:
    return zlib.crc32(f"{seed}:{text}".encode())


class WaterModel:
    """Evaluates readings of every site; the data window is the 28 days before `now`."""

    def __init__(self, seed: int, now: datetime) -> None:
        rng = random.Random(f"noise:{seed}")
        self._noise = [rng.gauss(0.0, 1.0) for _ in range(_NOISE_PERIOD)]
        self.now = now
        # Slots whose time is strictly before `now` have readings: the reading of the slot that
        # starts exactly at `now` has not arrived yet.
        self.end_slot = math.ceil(now.timestamp() / SLOT_S)
        self.first_slot = self.end_slot - WINDOW_DAYS * SLOTS_PER_DAY
        self.sites: dict[str, WaterSite] = {}

    def add(self, site: WaterSite) -> None:
        self.sites[site.enclosure_id] = site

    def has_reading(self, site: WaterSite, slot: int) -> bool:
        if slot < self.first_slot or slot >= min(self.end_slot, site.reporting_end_slot):
            return False
        return site.gap_ratio == 0.0 or unit_hash(site.salt, slot) >= site.gap_ratio

    def value(self, site: WaterSite, metric: str, slot: int) -> float:
        """Return the reading of `metric` at `slot`, rounded as the monitor reports it (2 decimals)."""
        raw = self._baseline(site, metric, slot)
        for episode in site.episodes:
            if episode.metric == metric:
                raw += episode.offset(slot)
        return round(raw, 2)

    def baseline(self, site: WaterSite, metric: str, slot: int) -> float:
        """Return the value without breach episodes; the generator sizes episodes from it."""
        return self._baseline(site, metric, slot)

    def points(self, site: WaterSite, metric: str, start_slot: int, end_slot: int) -> Iterator[tuple[int, float]]:
        """Yield (slot, value) for every reading in [start_slot, end_slot), in time order."""
        start = max(start_slot, self.first_slot)
        end = min(end_slot, self.end_slot, site.reporting_end_slot)
        for slot in range(start, end):
            if self.has_reading(site, slot):
                yield slot, self.value(site, metric, slot)

    def latest_slot(self, site: WaterSite) -> int | None:
        """Return the slot of the newest reading, or None when the window has none."""
        slot = min(self.end_slot, site.reporting_end_slot) - 1
        while slot >= self.first_slot:
            if self.has_reading(site, slot):
                return slot
            slot -= 1
        return None

    def _noise_at(self, site: WaterSite, metric: str, slot: int) -> float:
        return self._noise[(site.noise_offsets[metric] + slot) % _NOISE_PERIOD]

    def _baseline(self, site: WaterSite, metric: str, slot: int) -> float:
        daily = _DAILY_CYCLE[(slot + site.solar_shift_slots) % SLOTS_PER_DAY]
        day = slot / SLOTS_PER_DAY
        slow_wave = math.sin(2 * math.pi * day / 3.7 + site.weather_phases[0])
        long_wave = math.sin(2 * math.pi * day / 9.3 + site.weather_phases[1])
        noise = self._noise_at(site, metric, slot)
        offset = site.level_offsets[metric]

        if metric == "temperature":
            return self._temperature(site, day, daily, slow_wave, long_wave) + offset + 0.05 * noise
        if metric == "dissolved_oxygen":
            if site.freshwater:
                return 10.0 + offset + 0.2 * daily + 0.1 * slow_wave + 0.06 * noise
            # Oxygen solubility falls as water warms; pens run at 85-97 % of saturation,
            # highest in the afternoon when algae photosynthesise.
            temperature = self._temperature(site, day, daily, slow_wave, long_wave)
            saturation_mg_l = 11.6 - 0.24 * temperature
            return saturation_mg_l * (0.92 + 0.03 * daily + 0.02 * slow_wave) + offset + 0.08 * noise
        if metric == "ph":
            centre = 7.2 if site.freshwater else 8.0
            return centre + offset + 0.04 * daily + 0.03 * slow_wave + 0.015 * noise
        if metric == "salinity":
            tide = math.sin(2 * math.pi * slot / _TIDE_PERIOD_SLOTS)
            return 34.0 + offset + 0.15 * tide + 0.25 * long_wave + 0.04 * noise
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(SEA_METRICS)}")

    @staticmethod
    def _temperature(site: WaterSite, day: float, daily: float, slow_wave: float, long_wave: float) -> float:
        if site.temperature_c is not None:
            # Tanks and raceways are held near a set point by the hatchery's heating and chilling.
            return site.temperature_c + 0.15 * daily + 0.1 * slow_wave
        climate = site.climate
        day_of_year = day % 365.2425
        seasonal = climate.amplitude_c * math.cos(2 * math.pi * (day_of_year - climate.peak_day_of_year) / 365.2425)
        return climate.mean_c + seasonal + 0.4 * daily + 0.6 * slow_wave + 0.4 * long_wave

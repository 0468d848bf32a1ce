"""Seeded breach episodes and the alerts they raise.

Episodes are added to the water sites first; alerts are then found by scanning the readings an
episode covers against the enclosure's thresholds, exactly as a rule engine would. So every
generated alert's value and time match a reading that the Data Acquisition API serves.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sandbox.model import UNITS, Alert, AlertEvent, Enclosure, Farm, Threshold
from sandbox.water import SLOTS_PER_DAY, Episode, WaterModel, WaterSite, slot_time

RULES_ACTOR = "alerting-rules"
METRIC_LABELS = {
    "ph": "pH",
    "temperature": "Temperature",
    "salinity": "Salinity",
    "dissolved_oxygen": "Dissolved oxygen",
}
# Episode length per metric in 10-minute slots: oxygen dips last hours, freshets and warm spells days.
DURATION_SLOTS = {
    "dissolved_oxygen": (12, 36),
    "ph": (36, 72),
    "salinity": (SLOTS_PER_DAY, 2 * SLOTS_PER_DAY),
    "temperature": (2 * SLOTS_PER_DAY, 3 * SLOTS_PER_DAY),
}
SEA_METRIC_WEIGHTS = {"dissolved_oxygen": 55, "salinity": 20, "ph": 15, "temperature": 10}
FRESH_METRIC_WEIGHTS = {"dissolved_oxygen": 70, "ph": 20, "temperature": 10}
# A warm spell of more than this many degC above the seasonal level is not plausible.
MAX_WARMING_C = 6.0
ONGOING_EPISODES = 6
OPERATORS = {
    "norway-west": ("ingrid.berg", "ola.haugland", "siri.vik"),
    "norway-north": ("nils.pedersen", "kari.nilsen", "tor.eliassen"),
    "scotland": ("fiona.macleod", "ewan.mackay", "isla.morrison"),
    "chile-south": ("camila.rojas", "diego.vargas", "javiera.soto"),
    "canada-east": ("julie.leblanc", "mark.doucette", "sarah.cormier"),
}
ACK_NOTES = ("Checking the diffusers", "Feeding paused", "Divers on site", "Watching the trend", None)
RESOLVE_NOTES = ("Back inside the band", "Oxygenation restored", "Current picked up again", None)


def add_episodes(rng: random.Random, water: WaterModel, thresholds: dict[tuple[str, str, str], Threshold]) -> None:
    """Give about half of the sites one or two past episodes and a few sites an ongoing one."""
    sites = list(water.sites.values())
    for site in sites:
        for _ in range(rng.choices((0, 1, 2), weights=(50, 35, 15))[0]):
            _add_episode(rng, water, site, thresholds, ongoing=False)

    healthy = [site for site in sites if site.reporting_end_slot == water.end_slot and site.gap_ratio == 0.0]
    for site in rng.sample(healthy, min(ONGOING_EPISODES, len(healthy))):
        _add_episode(rng, water, site, thresholds, ongoing=True)


def _add_episode(
    rng: random.Random,
    water: WaterModel,
    site: WaterSite,
    thresholds: dict[tuple[str, str, str], Threshold],
    *,
    ongoing: bool,
) -> None:
    weights = FRESH_METRIC_WEIGHTS if site.freshwater else SEA_METRIC_WEIGHTS
    metric = rng.choices(tuple(weights), weights=tuple(weights.values()))[0]
    duration = rng.randint(*DURATION_SLOTS[metric])
    if ongoing:
        # Started long enough ago that the peak, and so the breach, is already in the data.
        start = water.end_slot - int(duration * rng.uniform(0.6, 0.8))
    else:
        latest_start = min(water.end_slot, site.reporting_end_slot) - duration
        if latest_start <= water.first_slot:
            return
        start = rng.randint(water.first_slot, latest_start)
    if any(e.metric == metric and e.start_slot < start + duration and start < e.end_slot for e in site.episodes):
        return

    warning = thresholds[(site.enclosure_id, metric, "warning")]
    critical = thresholds[(site.enclosure_id, metric, "critical")]
    # Reach past the critical band in a third of episodes, otherwise stop between the bands.
    depth = rng.uniform(1.15, 1.5) if rng.random() < 0.3 else rng.uniform(0.25, 0.8)
    baseline = water.baseline(site, metric, start + duration // 2)
    if metric == "temperature":
        target = warning.max + depth * (critical.max - warning.max)
        if target - baseline > MAX_WARMING_C:
            return
    else:
        target = warning.min - depth * (warning.min - critical.min)
    site.episodes.append(Episode(metric, start, duration, target - baseline))


def raise_alerts(
    rng: random.Random,
    water: WaterModel,
    farms: dict[str, Farm],
    enclosures: dict[str, Enclosure],
    thresholds: dict[tuple[str, str, str], Threshold],
) -> list[Alert]:
    """Scan every episode's readings and raise one alert per threshold it breaches, ids by time."""
    alerts: list[Alert] = []
    for site in water.sites.values():
        enclosure = enclosures[site.enclosure_id]
        farm = farms[enclosure.farm_id]
        for episode in site.episodes:
            for severity in ("warning", "critical"):
                threshold = thresholds[(site.enclosure_id, episode.metric, severity)]
                breach = _first_breach(water, site, episode, threshold)
                if breach is None:
                    continue
                slot, value = breach
                alert = _make_alert(farm, enclosure, threshold, value, slot_time(slot))
                _settle(rng, alert, slot_time(episode.end_slot), water.now, OPERATORS[farm.region])
                alerts.append(alert)

    alerts.sort(key=lambda a: (a.raised_at, a.enclosure_id, a.severity))
    for number, alert in enumerate(alerts, start=1):
        alert.id = f"alr-{number:06d}"
    return alerts


def _first_breach(
    water: WaterModel, site: WaterSite, episode: Episode, threshold: Threshold
) -> tuple[int, float] | None:
    for slot, value in water.points(site, episode.metric, episode.start_slot, episode.end_slot):
        if value < threshold.min or value > threshold.max:
            return slot, value
    return None


def describe_breach(metric: str, value: float, bound: float, severity: str, where: str) -> str:
    """Return the alert message, for example 'Dissolved oxygen 5.42 mg/L is below the warning minimum 6 mg/L'."""
    unit = "" if metric == "ph" else f" {UNITS[metric]}"
    side = "below the" if value < bound else "above the"
    limit = "minimum" if value < bound else "maximum"
    return f"{METRIC_LABELS[metric]} {value:g}{unit} is {side} {severity} {limit} {bound:g}{unit} in {where}"


def _make_alert(farm: Farm, enclosure: Enclosure, threshold: Threshold, value: float, raised_at: datetime) -> Alert:
    bound = threshold.min if value < threshold.min else threshold.max
    where = f"{enclosure.name}, {farm.name}"
    return Alert(
        id="",
        farm_id=farm.id,
        enclosure_id=enclosure.id,
        metric=threshold.metric,
        value=value,
        threshold=bound,
        severity=threshold.severity,
        status="open",
        message=describe_breach(threshold.metric, value, bound, threshold.severity, where),
        raised_at=raised_at,
        history=[AlertEvent(raised_at, "open", RULES_ACTOR, None)],
    )


def _settle(rng: random.Random, alert: Alert, episode_end: datetime, now: datetime, operators: tuple[str, ...]) -> None:
    """Move an alert on as operators would: recent ones open or acknowledged, old ones mostly resolved."""
    recent = episode_end > now - timedelta(hours=2)
    if recent:
        outcome = rng.choice(("open", "acknowledged"))
    else:
        outcome = rng.choices(("resolved", "acknowledged", "open"), weights=(85, 10, 5))[0]
    if outcome == "open":
        return

    operator = rng.choice(operators)
    resolved_at = None
    if outcome == "resolved":
        resolved_at = min(episode_end + timedelta(minutes=rng.randint(10, 240)), now - timedelta(minutes=1))
    skip_acknowledge = outcome == "resolved" and rng.random() < 0.1
    if not skip_acknowledge:
        acknowledged_at = alert.raised_at + timedelta(minutes=rng.randint(3, 90))
        latest = min(resolved_at or now, now) - timedelta(minutes=1)
        acknowledged_at = max(min(acknowledged_at, latest), alert.raised_at)
        alert.status = "acknowledged"
        alert.acknowledged_at = acknowledged_at
        alert.acknowledged_by = operator
        alert.history.append(AlertEvent(acknowledged_at, "acknowledged", operator, rng.choice(ACK_NOTES)))
    if resolved_at is not None:
        alert.status = "resolved"
        alert.resolved_at = resolved_at
        alert.resolved_by = operator
        alert.history.append(AlertEvent(resolved_at, "resolved", operator, rng.choice(RESOLVE_NOTES)))

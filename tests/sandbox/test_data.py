from __future__ import annotations

from datetime import UTC, datetime

from sandbox.data import build_dataset
from sandbox.water import slot_of

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)


def test_same_seed_same_data() -> None:
    first, second = build_dataset(7, NOW), build_dataset(7, NOW)
    assert first.farms == second.farms
    assert first.alerts == second.alerts
    assert first.harvests == second.harvests
    site_a, site_b = first.water.sites["enc-001-01"], second.water.sites["enc-001-01"]
    slot = slot_of(NOW) - 100
    assert first.water.value(site_a, "temperature", slot) == second.water.value(site_b, "temperature", slot)


def test_other_seed_other_data() -> None:
    first, other = build_dataset(7, NOW), build_dataset(8, NOW)
    assert [farm.name for farm in first.farms.values()] != [farm.name for farm in other.farms.values()]


def test_data_set_size() -> None:
    data = build_dataset(7, NOW)
    assert len(data.organizations) == 6
    assert len(data.farms) == 60
    assert 240 <= len(data.enclosures) <= 480
    assert len(data.devices) == 2 * len(data.enclosures)
    assert {farm.region for farm in data.farms.values()} == {
        "norway-west",
        "norway-north",
        "scotland",
        "chile-south",
        "canada-east",
    }

"""Seeded generation of organizations, farms, enclosures, stocks, fish, harvests and devices.

Numbers follow common practice in salmon and trout farming: sea pens of 20,000-60,000 m3 with
up to about 200,000 fish, smolt tanks of 100-180 g fish, and growth by the thermal growth
coefficient (TGC) model, where weight^(1/3) grows linearly with degree-days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sandbox.model import Device, Enclosure, Farm, Fish, Harvest, Organization, Stock

HARVEST_HISTORY_DAYS = 730


@dataclass(frozen=True, slots=True)
class FarmPlan:
    region: str
    farm_type: str  # "sea", "cod", "hatchery" or "inland"
    count: int


@dataclass(frozen=True, slots=True)
class OrganizationPlan:
    id: str
    name: str
    country: str
    farms: tuple[FarmPlan, ...]


ORGANIZATIONS = (
    OrganizationPlan(
        "org-01", "Vestkyst Laks AS", "NO", (FarmPlan("norway-west", "sea", 14), FarmPlan("norway-west", "hatchery", 1))
    ),
    OrganizationPlan(
        "org-02",
        "Nordlys Havbruk AS",
        "NO",
        (
            FarmPlan("norway-north", "sea", 10),
            FarmPlan("norway-north", "cod", 1),
            FarmPlan("norway-north", "hatchery", 1),
        ),
    ),
    OrganizationPlan(
        "org-03", "Hebrides Salmon Ltd", "GB", (FarmPlan("scotland", "sea", 9), FarmPlan("scotland", "hatchery", 1))
    ),
    OrganizationPlan(
        "org-04",
        "Salmones Austral SpA",
        "CL",
        (FarmPlan("chile-south", "sea", 11), FarmPlan("chile-south", "hatchery", 1)),
    ),
    OrganizationPlan(
        "org-05",
        "Fundy Atlantic Seafarms Inc.",
        "CA",
        (FarmPlan("canada-east", "sea", 7), FarmPlan("canada-east", "hatchery", 1)),
    ),
    OrganizationPlan("org-06", "Highland Trout & Char Ltd", "GB", (FarmPlan("scotland", "inland", 3),)),
)

# Latitude and longitude boxes of each region's farming coast, in degrees.
REGION_BOXES = {
    "norway-west": (59.6, 62.4, 4.8, 6.2),
    "norway-north": (67.8, 70.3, 13.5, 20.5),
    "scotland": (56.4, 58.6, -7.2, -5.3),
    "chile-south": (-45.4, -41.6, -74.0, -72.6),
    "canada-east": (44.6, 47.7, -67.1, -55.6),
}
INLAND_BOX = (56.4, 57.5, -5.0, -3.8)

PLACE_NAMES = {
    "norway-west": (
        "Hennøy",
        "Solheim",
        "Flatøy",
        "Rivedal",
        "Sauøy",
        "Kvernevik",
        "Bremnes",
        "Fedje",
        "Austevoll",
        "Hjartøy",
        "Brandasund",
        "Tveita",
        "Frøysjø",
        "Ulvesund",
        "Rognsund",
        "Vinnes",
    ),
    "norway-north": (
        "Tranøy",
        "Gibostad",
        "Lyngen",
        "Skjervøy",
        "Steinvik",
        "Kvitnes",
        "Bolga",
        "Reine",
        "Hamnøy",
        "Kjerringøy",
        "Sørøya",
        "Finnsnes",
        "Torsken",
    ),
    "scotland": (
        "Loch Roag",
        "Loch Seaforth",
        "Loch Duart",
        "Loch Ewe",
        "Loch Torridon",
        "Sound of Mull",
        "Loch Sunart",
        "Isle of Muck",
        "Loch Creran",
        "Ardintoul",
        "Kishorn",
        "Loch Eriboll",
    ),
    "chile-south": (
        "Quemchi",
        "Dalcahue",
        "Castro",
        "Chonchi",
        "Quellón",
        "Huelmo",
        "Calbuco",
        "Hornopirén",
        "Chaitén",
        "Melinka",
        "Puyuhuapi",
        "Aysén",
        "Achao",
    ),
    "canada-east": (
        "Grand Manan",
        "Campobello",
        "Deer Island",
        "Lime Kiln Bay",
        "Letang",
        "Bay d'Espoir",
        "Hermitage",
        "Harbour Breton",
        "Belleoram",
    ),
}
INLAND_NAMES = ("Glen Affric", "Strathspey", "Loch Awe")

# Thermal growth coefficient per species (per 1000 degree-days), typical of published trials.
TGC = {"atlantic_salmon": 2.9, "rainbow_trout": 2.6, "arctic_char": 2.1, "cod": 1.6}


@dataclass(frozen=True, slots=True)
class PenPlan:
    """How one enclosure is built and stocked; ranges are (low, high)."""

    kind: str
    species: str
    volume_m3: tuple[float, float]
    count: tuple[int, int]
    mean_weight_g: tuple[float, float]
    harvest_weight_g: tuple[float, float] | None
    stocking_weight_g: float
    mean_temperature_c: float


SEA_SALMON = PenPlan(
    "sea_pen", "atlantic_salmon", (20_000, 60_000), (60_000, 190_000), (150, 5200), (4300, 5800), 100, 9.0
)
SEA_TROUT = PenPlan(
    "sea_pen", "rainbow_trout", (20_000, 45_000), (60_000, 150_000), (150, 4000), (3000, 4200), 100, 10.5
)
SEA_COD = PenPlan("sea_pen", "cod", (15_000, 35_000), (40_000, 120_000), (100, 3500), (2800, 4000), 60, 7.5)
SMOLT_TANK = PenPlan("tank", "atlantic_salmon", (300, 1500), (40_000, 150_000), (100, 180), None, 100, 12.0)
TROUT_RACEWAY = PenPlan("raceway", "rainbow_trout", (120, 400), (5_000, 15_000), (150, 900), (350, 900), 5, 12.0)
CHAR_TANK = PenPlan("tank", "arctic_char", (200, 600), (5_000, 20_000), (100, 1500), (900, 1600), 5, 8.0)


@dataclass(slots=True)
class FarmRecords:
    organizations: list[Organization]
    farms: list[Farm]
    enclosures: list[Enclosure]
    stocks: list[Stock]
    fish: list[Fish]
    harvests: list[Harvest]
    pen_plans: dict[str, PenPlan]


def _pen_plans(rng: random.Random, farm_type: str, region: str, count: int) -> list[PenPlan]:
    if farm_type == "hatchery":
        return [SMOLT_TANK] * count
    if farm_type == "cod":
        return [SEA_COD] * count
    if farm_type == "inland":
        return [TROUT_RACEWAY if i < count - 2 else CHAR_TANK for i in range(count)]
    species_plan = SEA_TROUT if region == "chile-south" and rng.random() < 0.3 else SEA_SALMON
    return [species_plan] * count


def _days_since_stocking(plan: PenPlan, mean_weight_g: float) -> float:
    """Invert the TGC model: days at the plan's mean temperature to grow from stocking weight."""
    growth = mean_weight_g ** (1 / 3) - plan.stocking_weight_g ** (1 / 3)
    return max(growth, 0.0) / (TGC[plan.species] / 1000 * plan.mean_temperature_c)


def generate_farms(rng: random.Random, now: datetime) -> FarmRecords:
    """Build the registry of the Core System from `rng`; same rng state, same records."""
    records = FarmRecords([], [], [], [], [], [], {})
    place_pools = {region: rng.sample(names, len(names)) for region, names in PLACE_NAMES.items()}
    inland_pool = list(INLAND_NAMES)
    farm_number = 0

    for org_plan in ORGANIZATIONS:
        records.organizations.append(Organization(org_plan.id, org_plan.name, org_plan.country))
        for farm_plan in org_plan.farms:
            for _ in range(farm_plan.count):
                farm_number += 1
                farm = _make_farm(rng, now, org_plan.id, farm_plan, farm_number, place_pools, inland_pool)
                records.farms.append(farm)
                _add_enclosures(rng, now, farm, farm_plan, records)
    return records


def _make_farm(
    rng: random.Random,
    now: datetime,
    organization_id: str,
    plan: FarmPlan,
    number: int,
    place_pools: dict[str, list[str]],
    inland_pool: list[str],
) -> Farm:
    if plan.farm_type == "inland":
        place = inland_pool.pop(0)
        box = INLAND_BOX
    else:
        place = place_pools[plan.region].pop(0)
        box = REGION_BOXES[plan.region]
    suffix = {"hatchery": " Smolt", "cod": " Torsk", "inland": " Hatchery"}.get(plan.farm_type, "")
    created_at = now - timedelta(days=rng.randint(4 * 365, 17 * 365))
    return Farm(
        id=f"farm-{number:03d}",
        organization_id=organization_id,
        name=place + suffix,
        region=plan.region,
        latitude=round(rng.uniform(box[0], box[1]), 4),
        longitude=round(rng.uniform(box[2], box[3]), 4),
        created_at=created_at.replace(hour=0, minute=0, second=0, microsecond=0),
    )


def _add_enclosures(rng: random.Random, now: datetime, farm: Farm, plan: FarmPlan, records: FarmRecords) -> None:
    pen_count = rng.randint(5, 8) if plan.farm_type == "sea" else rng.randint(4, 6)
    age_days = (now - farm.created_at).days
    for pen_number, pen_plan in enumerate(_pen_plans(rng, plan.farm_type, plan.region, pen_count), start=1):
        label = {"sea_pen": "Pen", "tank": "Tank", "raceway": "Raceway"}[pen_plan.kind]
        created_at = farm.created_at + timedelta(days=rng.randint(0, max(age_days - 400, 1)))
        enclosure = Enclosure(
            id=f"enc-{farm.id[5:]}-{pen_number:02d}",
            farm_id=farm.id,
            name=f"{label} {pen_number:02d}",
            kind=pen_plan.kind,
            volume_m3=float(round(rng.uniform(*pen_plan.volume_m3), -1 if pen_plan.kind == "sea_pen" else 0)),
            created_at=created_at,
        )
        records.enclosures.append(enclosure)
        records.pen_plans[enclosure.id] = pen_plan
        stock = _make_stock(rng, now, enclosure, pen_plan)
        records.stocks.append(stock)
        if pen_plan.kind == "sea_pen" and rng.random() < 0.08:
            records.fish.extend(_make_tagged_fish(rng, now, enclosure, stock))
        if pen_plan.harvest_weight_g is not None:
            records.harvests.extend(_make_harvests(rng, now, enclosure, pen_plan, stock))


def _make_stock(rng: random.Random, now: datetime, enclosure: Enclosure, plan: PenPlan) -> Stock:
    # Draw weight on a cube-root scale, which is uniform in time under the TGC model.
    low, high = plan.mean_weight_g
    root = rng.uniform(low ** (1 / 3), high ** (1 / 3))
    mean_weight_g = round(root**3, 1)
    count_low, count_high = plan.count
    # Mortality through the cycle: older cohorts hold fewer fish than they were stocked with.
    cycle_share = (root - low ** (1 / 3)) / (high ** (1 / 3) - low ** (1 / 3))
    count = int(rng.randint(count_low, count_high) * (1 - 0.12 * cycle_share))
    updated_at = now - timedelta(minutes=rng.randint(5, 20 * 60))
    return Stock(
        enclosure_id=enclosure.id,
        farm_id=enclosure.farm_id,
        species=plan.species,
        count=count,
        mean_weight_g=mean_weight_g,
        updated_at=updated_at.replace(second=0, microsecond=0),
    )


def length_from_weight(weight_g: float, condition_factor: float) -> float:
    """Fulton's condition factor K = 100 * W / L^3 (W in g, L in cm), solved for L."""
    return (100 * weight_g / condition_factor) ** (1 / 3)


def _make_tagged_fish(rng: random.Random, now: datetime, enclosure: Enclosure, stock: Stock) -> list[Fish]:
    fish = []
    for number in range(1, 25):
        weight_g = stock.mean_weight_g * rng.lognormvariate(0.0, 0.15)
        tagged_at = now - timedelta(days=rng.uniform(3, 90))
        fish.append(
            Fish(
                id=f"fish-{enclosure.id[4:]}-{number:03d}",
                enclosure_id=enclosure.id,
                species=stock.species,
                tag=f"PIT-{rng.getrandbits(48):012X}",
                length_cm=round(length_from_weight(weight_g, rng.uniform(1.1, 1.35)), 1),
                weight_g=round(weight_g, 1),
                tagged_at=tagged_at.replace(microsecond=0),
            )
        )
    return fish


def _make_harvests(
    rng: random.Random, now: datetime, enclosure: Enclosure, plan: PenPlan, stock: Stock
) -> list[Harvest]:
    """Walk back through earlier production cycles and emit the harvests of the last two years."""
    assert plan.harvest_weight_g is not None
    harvests: list[Harvest] = []
    cycle_days = _days_since_stocking(plan, sum(plan.harvest_weight_g) / 2)
    fallow_days = rng.randint(45, 90)
    harvest_end = now - timedelta(days=_days_since_stocking(plan, stock.mean_weight_g) + fallow_days)
    oldest = max(now - timedelta(days=HARVEST_HISTORY_DAYS), enclosure.created_at)

    while harvest_end >= oldest:
        fish_left = int(rng.randint(*plan.count) * rng.uniform(0.82, 0.93))
        mean_weight_g = rng.uniform(*plan.harvest_weight_g)
        batches = rng.randint(1, 3)
        day = harvest_end.date() - timedelta(days=rng.randint(0, 4) * (batches - 1))
        for batch in range(batches):
            quantity = fish_left // batches + (fish_left % batches if batch == 0 else 0)
            batch_weight_g = round(mean_weight_g * rng.uniform(0.96, 1.04), 1)
            grade = rng.choices(("superior", "ordinary", "production"), weights=(70, 22, 8))[0]
            harvests.append(_harvest(enclosure, stock.species, day, quantity, batch_weight_g, grade))
            day += timedelta(days=rng.randint(1, 4))
        harvest_end -= timedelta(days=cycle_days + rng.randint(45, 90))
    return harvests


def _harvest(enclosure: Enclosure, species: str, day: date, quantity: int, mean_weight_g: float, grade: str) -> Harvest:
    return Harvest(
        id="",  # numbered in date order once every farm is generated
        farm_id=enclosure.farm_id,
        enclosure_id=enclosure.id,
        date=day,
        species=species,
        quantity=quantity,
        total_weight_kg=round(quantity * mean_weight_g / 1000, 1),
        mean_weight_g=mean_weight_g,
        quality_grade=grade,
    )


def number_harvests(harvests: list[Harvest]) -> list[Harvest]:
    """Sort harvests by date and give them ids in that order ("hrv-00001" is the oldest)."""
    ordered = sorted(harvests, key=lambda h: (h.date, h.enclosure_id))
    for number, harvest in enumerate(ordered, start=1):
        harvest.id = f"hrv-{number:05d}"
    return ordered


# Device catalogue: (model, serial prefix) per device kind and water type.
DEVICE_MODELS = {
    ("water_monitor", False): ("HydroSonde WQ-4", "WQ4"),
    ("water_monitor", True): ("HydroSonde WQ-3F", "WQ3F"),
    ("camera", False): ("PenView C-200", "PV200"),
    ("camera", True): ("TankView C-80", "TV80"),
}


def make_device(
    rng: random.Random, now: datetime, enclosure: Enclosure, kind: str, status: str, last_contact_at: datetime | None
) -> Device:
    freshwater = enclosure.kind != "sea_pen"
    model, prefix = DEVICE_MODELS[(kind, freshwater)]
    earliest_days = max((now - enclosure.created_at).days - 30, 60)
    installed_at = now - timedelta(days=rng.randint(60, min(earliest_days, 1400)))
    return Device(
        id=f"dev-{enclosure.id[4:]}-{'wm' if kind == 'water_monitor' else 'cam'}",
        farm_id=enclosure.farm_id,
        enclosure_id=enclosure.id,
        kind=kind,
        model=model,
        serial=f"{prefix}-{rng.randint(100000, 999999)}",
        status=status,
        last_contact_at=last_contact_at,
        installed_at=installed_at.replace(hour=rng.randint(7, 16), minute=0, second=0, microsecond=0),
    )

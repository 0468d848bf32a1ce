"""Harvests and harvest performance over time."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

import strawberry

from connectors.payloads.core import Harvest as HarvestPayload
from resolvers.enums import HarvestPeriod


@strawberry.type(description="Fish taken out of one enclosure on one day.")
class Harvest:
    id: strawberry.ID = strawberry.field(description="Harvest id in the Core System.")
    date: dt.date = strawberry.field(description="Day of the harvest.")
    species: str = strawberry.field(description='Species harvested, for example "atlantic_salmon".')
    quantity: int = strawberry.field(description="Number of fish harvested.")
    total_weight_kg: float = strawberry.field(description="Total round weight, in kilograms.")
    mean_weight_g: float = strawberry.field(description="Mean weight per fish, in grams.")
    quality_grade: str = strawberry.field(description='Quality grade: "superior", "ordinary" or "production".')
    enclosure_id: strawberry.ID = strawberry.field(description="Enclosure the fish came from.")

    @classmethod
    def from_payload(cls, payload: HarvestPayload) -> Harvest:
        return cls(
            id=strawberry.ID(payload.id),
            date=payload.date,
            species=payload.species,
            quantity=payload.quantity,
            total_weight_kg=payload.total_weight_kg,
            mean_weight_g=payload.mean_weight_g,
            quality_grade=payload.quality_grade,
            enclosure_id=strawberry.ID(payload.enclosure_id),
        )


@strawberry.type(description="Harvest totals over one period.")
class HarvestPerformance:
    period_start: dt.date = strawberry.field(description="First day of the period.")
    period_end: dt.date = strawberry.field(description="Last day of the period.")
    harvest_count: int = strawberry.field(description="Number of harvests in the period.")
    fish_count: int = strawberry.field(description="Number of fish harvested.")
    total_weight_kg: float = strawberry.field(description="Total round weight harvested, in kilograms.")
    mean_weight_g: float = strawberry.field(description="Mean weight per fish over the period, in grams.")
    superior_share: float = strawberry.field(
        description='Share of the harvested weight graded "superior", from 0 to 1.'
    )


def period_bounds(day: dt.date, period: HarvestPeriod) -> tuple[dt.date, dt.date]:
    """Return the first and last day of the period that contains `day`."""
    if period is HarvestPeriod.WEEK:
        start = day - dt.timedelta(days=day.weekday())
        return start, start + dt.timedelta(days=6)
    months = 1 if period is HarvestPeriod.MONTH else 3
    first_month = day.month - (day.month - 1) % months
    start = dt.date(day.year, first_month, 1)
    next_month = first_month + months
    following = dt.date(day.year + (next_month - 1) // 12, (next_month - 1) % 12 + 1, 1)
    return start, following - dt.timedelta(days=1)


def harvest_performance(harvests: Iterable[HarvestPayload], period: HarvestPeriod) -> list[HarvestPerformance]:
    """Group harvests into periods and total them; periods without a harvest are left out."""
    groups: dict[tuple[dt.date, dt.date], list[HarvestPayload]] = defaultdict(list)
    for harvest in harvests:
        groups[period_bounds(harvest.date, period)].append(harvest)
    result = []
    for (start, end), members in sorted(groups.items()):
        fish = sum(harvest.quantity for harvest in members)
        weight = sum(harvest.total_weight_kg for harvest in members)
        superior = sum(harvest.total_weight_kg for harvest in members if harvest.quality_grade == "superior")
        result.append(
            HarvestPerformance(
                period_start=start,
                period_end=end,
                harvest_count=len(members),
                fish_count=fish,
                total_weight_kg=round(weight, 3),
                mean_weight_g=round(weight * 1000 / fish, 1) if fish else 0.0,
                superior_share=round(superior / weight, 4) if weight else 0.0,
            )
        )
    return result

"""Organizations, farms and enclosures: the spine of the farm overview and enclosure detail."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Annotated, Any

import strawberry

from common.errors import InvalidArgumentError
from connectors.payloads.acquisition import LatestReading as LatestReadingPayload
from connectors.payloads.acquisition import Observation as ObservationPayload
from connectors.payloads.common import Page
from connectors.payloads.core import Enclosure as EnclosurePayload
from connectors.payloads.core import Farm as FarmPayload
from connectors.payloads.core import Fish as FishPayload
from connectors.payloads.core import Organization as OrganizationPayload
from connectors.payloads.core import Stock
from resolvers.arguments import After, First, FromDate, FromTime, ToDate, ToTime, date_range, time_range, wire
from resolvers.context import GatewayInfo
from resolvers.enums import SEVERITY_RANK, AlertSeverity, AlertStatus, DeviceKind, DeviceStatus, HarvestPeriod, Metric
from resolvers.pagination import Connection, connection_from_list, connection_from_upstream
from resolvers.permissions import requires_scopes
from resolvers.prefetch import LOADER_OF_FIELD, from_loader, loaders_for, node_field_names, prefetch, settled
from resolvers.types.alerts import Alert
from resolvers.types.devices import Device
from resolvers.types.harvests import Harvest, HarvestPerformance, harvest_performance
from resolvers.types.readings import LatestReading, ReadingBucket, ReadingSeries, Threshold

MIN_INTERVAL_S = 60
MAX_INTERVAL_S = 86_400


@strawberry.type(description="Fish of one species in one enclosure.")
class FishStock:
    species: str = strawberry.field(description='Species, for example "atlantic_salmon".')
    count: int = strawberry.field(description="Number of fish.")
    mean_weight_g: float = strawberry.field(description="Mean weight per fish, in grams.")
    updated_at: dt.datetime | None = strawberry.field(description="When the count was last updated (UTC).")

    @strawberry.field(description="Total weight of the stock, in kilograms.")
    def biomass_kg(self) -> float:
        return round(self.count * self.mean_weight_g / 1000, 1)

    @classmethod
    def from_payload(cls, payload: Stock) -> FishStock:
        return cls(
            species=payload.species,
            count=payload.count,
            mean_weight_g=payload.mean_weight_g,
            updated_at=payload.updated_at,
        )


@strawberry.type(description="Health indicators of one species on a farm, from stocks and the last day of camera data.")
class SpeciesHealth:
    species: str = strawberry.field(description='Species, for example "atlantic_salmon".')
    fish_count: int = strawberry.field(description="Number of fish of this species on the farm.")
    mean_weight_g: float = strawberry.field(description="Mean weight per fish, weighted by count, in grams.")
    mean_length_cm: float | None = strawberry.field(description="Mean fish length seen by cameras, in centimetres.")
    mean_activity_index: float | None = strawberry.field(description="Mean activity index seen by cameras, 0 to 1.")
    mean_parasite_count: float | None = strawberry.field(
        description="Mean sea lice per fish counted by cameras over the last 24 hours."
    )
    observation_count: int = strawberry.field(description="Camera observations the means are based on.")


@strawberry.type(description="One camera observation of the fish in an enclosure.")
class Observation:
    id: strawberry.ID = strawberry.field(description="Observation id in Data Acquisition.")
    time: dt.datetime = strawberry.field(description="When it was observed (UTC).")
    mean_length_cm: float | None = strawberry.field(description="Mean fish length, in centimetres.")
    activity_index: float | None = strawberry.field(description="Swimming activity from 0 (still) to 1.")
    parasite_count: float | None = strawberry.field(description="Sea lice per fish.")
    device_id: strawberry.ID | None = strawberry.field(description="Camera that made the observation.")

    @classmethod
    def from_payload(cls, payload: ObservationPayload) -> Observation:
        return cls(
            id=strawberry.ID(payload.id),
            time=payload.time,
            mean_length_cm=payload.mean_length_cm,
            activity_index=payload.activity_index,
            parasite_count=payload.parasite_count,
            device_id=strawberry.ID(payload.device_id) if payload.device_id else None,
        )


@strawberry.type(description="An individually identified (tagged) fish. Beta: the Core System may change it.")
class Fish:
    id: strawberry.ID = strawberry.field(description="Fish id in the Core System.")
    species: str = strawberry.field(description="Species.")
    tag: str = strawberry.field(description="Tag that identifies the fish.")
    length_cm: float | None = strawberry.field(description="Last measured length, in centimetres.")
    weight_g: float | None = strawberry.field(description="Last measured weight, in grams.")
    tagged_at: dt.datetime | None = strawberry.field(description="When it was tagged (UTC).")

    @classmethod
    def from_payload(cls, payload: FishPayload) -> Fish:
        return cls(
            id=strawberry.ID(payload.id),
            species=payload.species,
            tag=payload.tag,
            length_cm=payload.length_cm,
            weight_g=payload.weight_g,
            tagged_at=payload.tagged_at,
        )


def _species_health(stocks: list[Stock], observations: list[ObservationPayload]) -> list[SpeciesHealth]:
    species_of_enclosure: dict[str, str] = {}
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    for stock in stocks:
        totals[stock.species][0] += stock.count
        totals[stock.species][1] += stock.count * stock.mean_weight_g
        species_of_enclosure.setdefault(stock.enclosure_id, stock.species)
    seen: dict[str, list[ObservationPayload]] = defaultdict(list)
    for observation in observations:
        species = species_of_enclosure.get(observation.enclosure_id)
        if species is not None:
            seen[species].append(observation)

    def mean(values: list[float | None]) -> float | None:
        present = [value for value in values if value is not None]
        return round(sum(present) / len(present), 3) if present else None

    result = []
    for species, (count, weight) in sorted(totals.items()):
        group = seen.get(species, [])
        result.append(
            SpeciesHealth(
                species=species,
                fish_count=int(count),
                mean_weight_g=round(weight / count, 1) if count else 0.0,
                mean_length_cm=mean([obs.mean_length_cm for obs in group]),
                mean_activity_index=mean([obs.activity_index for obs in group]),
                mean_parasite_count=mean([obs.parasite_count for obs in group]),
                observation_count=len(group),
            )
        )
    return result


def _biomass_kg(stocks: list[Stock]) -> float:
    return round(sum(stock.count * stock.mean_weight_g for stock in stocks) / 1000, 1)


def _severity_at_least(alert: Alert, minimum: AlertSeverity | None) -> bool:
    return minimum is None or SEVERITY_RANK[alert.severity] >= SEVERITY_RANK[minimum]


@strawberry.type(description="One sea pen, tank or raceway on a farm.")
class Enclosure:
    id: strawberry.ID = strawberry.field(description="Enclosure id in the Core System.")
    name: str = strawberry.field(description="Name used on the farm.")
    kind: str = strawberry.field(description='Kind of enclosure: "sea_pen", "tank" or "raceway".')
    volume_m3: float | None = strawberry.field(description="Water volume, in cubic metres.")
    created_at: dt.datetime | None = strawberry.field(description="When it was registered (UTC).")
    farm_id: strawberry.Private[str]

    @classmethod
    def from_payload(cls, payload: EnclosurePayload) -> Enclosure:
        return cls(
            id=strawberry.ID(payload.id),
            name=payload.name,
            kind=payload.kind,
            volume_m3=payload.volume_m3,
            created_at=payload.created_at,
            farm_id=payload.farm_id,
        )

    def _own_stocks(self, stocks: list[Stock]) -> list[Stock]:
        return [stock for stock in stocks if stock.enclosure_id == self.id]

    def _from_stocks(self, info: GatewayInfo, convert: Callable[[list[Stock]], Any]) -> Any:
        return from_loader(
            info.context.loaders.stocks_of_farm, self.farm_id, lambda stocks: convert(self._own_stocks(stocks))
        )

    @strawberry.field(description="The farm the enclosure belongs to.")
    async def farm(self, info: GatewayInfo) -> Farm | None:
        return Farm.from_payload(await info.context.loaders.farm.load(self.farm_id))

    # The stock and reading fields below are synchronous on purpose: see resolvers/prefetch.py.
    @strawberry.field(description="Fish stocks by species.", graphql_type=list[FishStock] | None)
    def stocks(self, info: GatewayInfo) -> Any:
        return self._from_stocks(info, lambda stocks: [FishStock.from_payload(stock) for stock in stocks])

    @strawberry.field(description="Number of fish in the enclosure, all species.", graphql_type=int | None)
    def fish_count(self, info: GatewayInfo) -> Any:
        return self._from_stocks(info, lambda stocks: sum(stock.count for stock in stocks))

    @strawberry.field(description="Total fish weight in the enclosure, in kilograms.", graphql_type=float | None)
    def biomass_kg(self, info: GatewayInfo) -> Any:
        return self._from_stocks(info, _biomass_kg)

    @strawberry.field(
        description="Stocking density, in kilograms of fish per cubic metre of water.", graphql_type=float | None
    )
    def stocking_density_kg_per_m3(self, info: GatewayInfo) -> Any:
        volume = self.volume_m3
        if not volume:
            return None
        return self._from_stocks(info, lambda stocks: round(_biomass_kg(stocks) / volume, 2))

    @strawberry.field(
        description="The latest reading of each metric that has one.", graphql_type=list[LatestReading] | None
    )
    def latest_readings(self, info: GatewayInfo) -> Any:
        def own(readings: list[LatestReadingPayload]) -> list[LatestReading]:
            mine = [LatestReading.from_payload(reading) for reading in readings if reading.enclosure_id == self.id]
            return sorted(mine, key=lambda reading: wire(reading.metric))

        return from_loader(info.context.loaders.latest_readings_of_farm, self.farm_id, own)

    @strawberry.field(description="A metric's readings over a time range, aggregated into equal buckets.")
    async def readings(
        self,
        info: GatewayInfo,
        metric: Metric,
        from_: FromTime = None,
        to: ToTime = None,
        interval_seconds: Annotated[
            int, strawberry.argument(description="Bucket length, in seconds, from 60 to 86400.")
        ] = 3600,
    ) -> ReadingSeries | None:
        start, end = time_range(from_, to, dt.timedelta(days=1))
        if not MIN_INTERVAL_S <= interval_seconds <= MAX_INTERVAL_S:
            raise InvalidArgumentError(
                f"intervalSeconds must be between {MIN_INTERVAL_S} and {MAX_INTERVAL_S}, got {interval_seconds}",
                argument="intervalSeconds",
            )
        buckets = (end - start).total_seconds() / interval_seconds
        limit = info.context.limits.max_reading_buckets
        if buckets > limit:
            raise InvalidArgumentError(
                f"the range contains {int(buckets)} buckets of {interval_seconds} s, more than the limit of {limit}; "
                "use a longer intervalSeconds or a shorter range",
                argument="intervalSeconds",
            )
        series = await info.context.connectors.acquisition.reading_buckets(
            str(self.id), wire(metric), start, end, interval_seconds
        )
        return ReadingSeries(
            metric=metric,
            unit=series.unit,
            interval_seconds=interval_seconds,
            buckets=[ReadingBucket.from_payload(bucket) for bucket in series.items],
        )

    @strawberry.field(description="Alert thresholds per metric.")
    async def thresholds(self, info: GatewayInfo) -> list[Threshold] | None:
        thresholds = await info.context.loaders.thresholds_of_farm.load(self.farm_id)
        return [Threshold.from_payload(item) for item in thresholds if item.enclosure_id == self.id]

    @strawberry.field(
        description="Devices installed in the enclosure.",
        extensions=[requires_scopes("devices:read")],
    )
    async def devices(self, info: GatewayInfo) -> list[Device] | None:
        devices = await info.context.loaders.devices_of_farm.load(self.farm_id)
        return [Device.from_payload(device) for device in devices if device.enclosure_id == self.id]

    @strawberry.field(
        description="Alerts about the enclosure that are open or acknowledged, newest first.",
        extensions=[requires_scopes("alerts:read")],
        graphql_type=list[Alert] | None,
    )
    def active_alerts(self, info: GatewayInfo) -> Any:
        return from_loader(
            info.context.loaders.active_alerts_of_farm,
            self.farm_id,
            lambda alerts: [Alert.from_payload(alert) for alert in alerts if alert.enclosure_id == self.id],
        )

    @strawberry.field(description="Camera observations, newest first.")
    async def observations(
        self,
        info: GatewayInfo,
        first: First = 50,
        after: After = None,
    ) -> Connection[Observation] | None:
        acquisition = info.context.connectors.acquisition

        async def fetch(limit: int, cursor: str | None) -> Page[ObservationPayload]:
            return await acquisition.observations_page(str(self.id), limit=limit, cursor=cursor)

        return await connection_from_upstream(
            f"observations:{self.id}",
            fetch,
            Observation.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="Individually identified fish (beta).")
    async def fish(
        self,
        info: GatewayInfo,
        first: First = 50,
        after: After = None,
    ) -> Connection[Fish] | None:
        core = info.context.connectors.core

        async def fetch(limit: int, cursor: str | None) -> Page[FishPayload]:
            return await core.fish_page(str(self.id), limit=limit, cursor=cursor)

        return await connection_from_upstream(
            f"fish:{self.id}",
            fetch,
            Fish.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="Harvests from the enclosure in a date range, oldest first.")
    async def harvests(
        self, info: GatewayInfo, from_: FromDate = None, to: ToDate = None, first: First = 50, after: After = None
    ) -> Connection[Harvest] | None:
        date_range(from_, to)
        harvests = await info.context.connectors.core.harvests(enclosure_ids=[str(self.id)], start=from_, end=to)
        return connection_from_list(
            f"harvests:{self.id}:{from_}:{to}",
            harvests,
            Harvest.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )


@strawberry.type(description="A fish farm: a site with enclosures, in one region.")
class Farm:
    id: strawberry.ID = strawberry.field(description="Farm id in the Core System.")
    name: str = strawberry.field(description="Farm name.")
    region: str = strawberry.field(description='Region, for example "norway-west".')
    latitude: float = strawberry.field(description="Latitude of the site, in decimal degrees (WGS 84).")
    longitude: float = strawberry.field(description="Longitude of the site, in decimal degrees (WGS 84).")
    created_at: dt.datetime | None = strawberry.field(description="When it was registered (UTC).")
    organization_id: strawberry.Private[str]

    @classmethod
    def from_payload(cls, payload: FarmPayload) -> Farm:
        return cls(
            id=strawberry.ID(payload.id),
            name=payload.name,
            region=payload.region,
            latitude=payload.latitude,
            longitude=payload.longitude,
            created_at=payload.created_at,
            organization_id=payload.organization_id,
        )

    @strawberry.field(description="The organization that runs the farm.")
    async def organization(self, info: GatewayInfo) -> Organization | None:
        return Organization.from_payload(await info.context.loaders.organization.load(self.organization_id))

    # The count fields and `enclosures` are synchronous on purpose: see resolvers/prefetch.py.
    @strawberry.field(description="Number of enclosures on the farm.", graphql_type=int | None)
    def enclosure_count(self, info: GatewayInfo) -> Any:
        return from_loader(info.context.loaders.enclosures_of_farm, str(self.id), len)

    @strawberry.field(description="Number of fish on the farm, all enclosures and species.", graphql_type=int | None)
    def fish_count(self, info: GatewayInfo) -> Any:
        return from_loader(
            info.context.loaders.stocks_of_farm, str(self.id), lambda stocks: sum(stock.count for stock in stocks)
        )

    @strawberry.field(description="Total fish weight on the farm, in kilograms.", graphql_type=float | None)
    def biomass_kg(self, info: GatewayInfo) -> Any:
        return from_loader(info.context.loaders.stocks_of_farm, str(self.id), _biomass_kg)

    @strawberry.field(
        description="The farm's enclosures, in the Core System's order.", graphql_type=Connection[Enclosure] | None
    )
    def enclosures(
        self,
        info: GatewayInfo,
        first: First = 50,
        after: After = None,
    ) -> Any:
        loaders = info.context.loaders
        key = str(self.id)
        needed = loaders_for(info, node_field_names(info), LOADER_OF_FIELD)

        def page(enclosures: list[EnclosurePayload]) -> Connection[Enclosure]:
            return connection_from_list(
                f"enclosures:{self.id}",
                enclosures,
                Enclosure.from_payload,
                first=first,
                after=after,
                max_page_size=info.context.limits.max_page_size,
            )

        # Prefetched by Query.farms: return the page now, without a coroutine (or the loader's error).
        if settled(loaders.enclosures_of_farm, key) and all(
            settled(getattr(loaders, attribute), key) for attribute in needed
        ):
            return from_loader(loaders.enclosures_of_farm, key, page)

        async def later() -> Connection[Enclosure]:
            enclosures = await loaders.enclosures_of_farm.load(key)
            await prefetch(loaders, needed, [key])
            return page(enclosures)

        return later()

    @strawberry.field(
        description="Number of alerts that are open or acknowledged.",
        extensions=[requires_scopes("alerts:read")],
        graphql_type=int | None,
    )
    def active_alert_count(self, info: GatewayInfo) -> Any:
        return from_loader(info.context.loaders.active_alerts_of_farm, str(self.id), len)

    @strawberry.field(
        description="Alerts that are open or acknowledged, newest first.",
        extensions=[requires_scopes("alerts:read")],
    )
    async def active_alerts(
        self,
        info: GatewayInfo,
        min_severity: Annotated[
            AlertSeverity | None, strawberry.argument(description="Leave out alerts less severe than this.")
        ] = None,
        first: First = 50,
        after: After = None,
    ) -> Connection[Alert] | None:
        alerts = [
            alert
            for alert in map(Alert.from_payload, await info.context.loaders.active_alerts_of_farm.load(str(self.id)))
            if _severity_at_least(alert, min_severity)
        ]
        return connection_from_list(
            f"active-alerts:{self.id}:{min_severity}",
            alerts,
            lambda alert: alert,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(
        description="The farm's devices, optionally filtered.",
        extensions=[requires_scopes("devices:read")],
    )
    async def devices(
        self,
        info: GatewayInfo,
        kind: Annotated[DeviceKind | None, strawberry.argument(description="Only devices of this kind.")] = None,
        status: Annotated[DeviceStatus | None, strawberry.argument(description="Only devices in this state.")] = None,
    ) -> list[Device] | None:
        devices = map(Device.from_payload, await info.context.loaders.devices_of_farm.load(str(self.id)))
        return [
            device
            for device in devices
            if (kind is None or device.kind is kind) and (status is None or device.status is status)
        ]

    @strawberry.field(description="Fish health by species: stock totals and the last 24 hours of camera data.")
    async def fish_health(self, info: GatewayInfo) -> list[SpeciesHealth] | None:
        stocks = await info.context.loaders.stocks_of_farm.load(str(self.id))
        observations = await info.context.loaders.recent_observations_of_farm.load(str(self.id))
        return _species_health(stocks, observations)

    @strawberry.field(description="Harvests in a date range, oldest first.")
    async def harvests(
        self,
        info: GatewayInfo,
        from_: FromDate = None,
        to: ToDate = None,
        first: First = 50,
        after: After = None,
    ) -> Connection[Harvest] | None:
        date_range(from_, to)
        harvests = await info.context.connectors.core.harvests(farm_ids=[str(self.id)], start=from_, end=to)
        return connection_from_list(
            f"harvests:{self.id}:{from_}:{to}",
            harvests,
            Harvest.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="Harvest totals per period over a date range, oldest first.")
    async def harvest_performance(
        self,
        info: GatewayInfo,
        period: Annotated[HarvestPeriod, strawberry.argument(description="Period length.")] = HarvestPeriod.MONTH,
        from_: FromDate = None,
        to: ToDate = None,
    ) -> list[HarvestPerformance] | None:
        date_range(from_, to)
        harvests = await info.context.connectors.core.harvests(farm_ids=[str(self.id)], start=from_, end=to)
        return harvest_performance(harvests, period)


@strawberry.type(description="A company that runs fish farms.")
class Organization:
    id: strawberry.ID = strawberry.field(description="Organization id in the Core System.")
    name: str = strawberry.field(description="Company name.")
    country: str | None = strawberry.field(description="ISO 3166-1 alpha-2 country code of the head office.")

    @classmethod
    def from_payload(cls, payload: OrganizationPayload) -> Organization:
        return cls(id=strawberry.ID(payload.id), name=payload.name, country=payload.country)

    @strawberry.field(description="The organization's farms.")
    async def farms(
        self,
        info: GatewayInfo,
        first: First = 50,
        after: After = None,
    ) -> Connection[Farm] | None:
        core = info.context.connectors.core

        async def fetch(limit: int, cursor: str | None) -> Page[FarmPayload]:
            return await core.farms_page(limit=limit, cursor=cursor, organization_id=str(self.id))

        return await connection_from_upstream(
            f"farms:org:{self.id}",
            fetch,
            Farm.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )


__all__ = ["AlertStatus", "Enclosure", "Farm", "FishStock", "Organization", "SpeciesHealth"]

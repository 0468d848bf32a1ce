"""The root Query type: entry points for dashboards."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from common.errors import NotFoundError
from connectors.payloads.acquisition import Device as DevicePayload
from connectors.payloads.alerting import Alert as AlertPayload
from connectors.payloads.core import Farm as FarmPayload
from connectors.payloads.fabric import Dataset as DatasetPayload
from connectors.payloads.mlflow import RegisteredModel as RegisteredModelPayload
from resolvers.arguments import After, First, FromTime, ToTime, time_range, wire
from resolvers.context import GatewayInfo
from resolvers.enums import (
    AggregateFunction,
    AggregateGrouping,
    AlertSeverity,
    AlertStatus,
    DeviceKind,
    DeviceStatus,
    Metric,
)
from resolvers.pagination import Connection, UpstreamPage, connection_from_list, connection_from_upstream
from resolvers.types.alerts import Alert
from resolvers.types.catalog import Dataset, ReadingAggregate
from resolvers.types.devices import Device
from resolvers.types.farms import Enclosure, Farm, Organization
from resolvers.types.forecast import HarvestForecast, forecast_harvest
from resolvers.types.models import RegisteredModel


@strawberry.type(description="Read access to everything Fish Watch knows, fetched live from the subsystems.")
class Query:
    @strawberry.field(description="Organizations, by name.")
    async def organizations(
        self, info: GatewayInfo, first: First = 50, after: After = None
    ) -> Connection[Organization] | None:
        organizations = sorted(await info.context.connectors.core.organizations(), key=lambda org: org.name)
        return connection_from_list(
            "organizations",
            organizations,
            Organization.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="Farms, optionally in one region or of one organization.")
    async def farms(
        self,
        info: GatewayInfo,
        region: Annotated[str | None, strawberry.argument(description="Only farms in this region.")] = None,
        organization_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only farms of this organization.")
        ] = None,
        first: First = 50,
        after: After = None,
    ) -> Connection[Farm] | None:
        core = info.context.connectors.core

        async def fetch(limit: int, cursor: str | None) -> UpstreamPage[FarmPayload]:
            page = await core.farms_page(
                limit=limit,
                cursor=cursor,
                region=region,
                organization_id=str(organization_id) if organization_id else None,
            )
            return UpstreamPage(page.items, page.next_cursor)

        return await connection_from_upstream(
            f"farms:{region}:{organization_id}",
            fetch,
            Farm.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="One farm by id, or null when it does not exist.")
    async def farm(self, info: GatewayInfo, id: strawberry.ID) -> Farm | None:
        try:
            return Farm.from_payload(await info.context.loaders.farm.load(str(id)))
        except NotFoundError:
            return None

    @strawberry.field(description="One enclosure by id, or null when it does not exist.")
    async def enclosure(self, info: GatewayInfo, id: strawberry.ID) -> Enclosure | None:
        try:
            return Enclosure.from_payload(await info.context.loaders.enclosure.load(str(id)))
        except NotFoundError:
            return None

    @strawberry.field(description="Alerts across farms, newest first, optionally filtered.")
    async def alerts(
        self,
        info: GatewayInfo,
        farm_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this farm's alerts.")] = None,
        status: Annotated[list[AlertStatus] | None, strawberry.argument(description="Only these statuses.")] = None,
        severity: Annotated[
            list[AlertSeverity] | None, strawberry.argument(description="Only these severities.")
        ] = None,
        first: First = 50,
        after: After = None,
    ) -> Connection[Alert] | None:
        alerting = info.context.connectors.alerting
        statuses = [wire(item) for item in status or []]
        severities = [wire(item) for item in severity or []]

        async def fetch(limit: int, cursor: str | None) -> UpstreamPage[AlertPayload]:
            page = await alerting.alerts_page(
                limit=limit,
                cursor=cursor,
                farm_ids=[str(farm_id)] if farm_id else [],
                statuses=statuses,
                severities=severities,
            )
            return UpstreamPage(page.items, page.next_cursor)

        return await connection_from_upstream(
            f"alerts:{farm_id}:{','.join(statuses)}:{','.join(severities)}",
            fetch,
            Alert.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="One alert by id with its history, or null when it does not exist.")
    async def alert(self, info: GatewayInfo, id: strawberry.ID) -> Alert | None:
        try:
            return Alert.from_payload(await info.context.connectors.alerting.alert(str(id)))
        except NotFoundError:
            return None

    @strawberry.field(description="Field devices, optionally filtered.")
    async def devices(
        self,
        info: GatewayInfo,
        farm_id: Annotated[strawberry.ID | None, strawberry.argument(description="Only this farm's devices.")] = None,
        kind: Annotated[DeviceKind | None, strawberry.argument(description="Only devices of this kind.")] = None,
        status: Annotated[DeviceStatus | None, strawberry.argument(description="Only devices in this state.")] = None,
        first: First = 50,
        after: After = None,
    ) -> Connection[Device] | None:
        acquisition = info.context.connectors.acquisition

        async def fetch(limit: int, cursor: str | None) -> UpstreamPage[DevicePayload]:
            page = await acquisition.devices_page(
                limit=limit,
                cursor=cursor,
                farm_ids=[str(farm_id)] if farm_id else [],
                kind=wire(kind) if kind else None,
                status=wire(status) if status else None,
            )
            return UpstreamPage(page.items, page.next_cursor)

        return await connection_from_upstream(
            f"devices:{farm_id}:{kind}:{status}",
            fetch,
            Device.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="Datasets in the Data Fabric catalog.")
    async def datasets(self, info: GatewayInfo, first: First = 50, after: After = None) -> Connection[Dataset] | None:
        fabric = info.context.connectors.fabric

        async def fetch(limit: int, cursor: str | None) -> UpstreamPage[DatasetPayload]:
            page = await fabric.datasets_page(limit=limit, cursor=cursor)
            return UpstreamPage(page.items, page.next_cursor)

        return await connection_from_upstream(
            "datasets",
            fetch,
            Dataset.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="One dataset by id, or null when it does not exist.")
    async def dataset(self, info: GatewayInfo, id: strawberry.ID) -> Dataset | None:
        try:
            return Dataset.from_payload(await info.context.connectors.fabric.dataset(str(id)))
        except NotFoundError:
            return None

    @strawberry.field(description="Daily aggregates of a metric across farms, grouped by region or farm.")
    async def reading_aggregates(
        self,
        info: GatewayInfo,
        metric: Metric,
        function: AggregateFunction = AggregateFunction.MEAN,
        group_by: AggregateGrouping = AggregateGrouping.REGION,
        from_: FromTime = None,
        to: ToTime = None,
        regions: Annotated[list[str] | None, strawberry.argument(description="Only these regions.")] = None,
        farm_ids: Annotated[list[strawberry.ID] | None, strawberry.argument(description="Only these farms.")] = None,
    ) -> list[ReadingAggregate] | None:
        start, end = time_range(from_, to, dt.timedelta(days=7))
        rows = await info.context.connectors.fabric.aggregates(
            metric=wire(metric),
            function=wire(function),
            group_by=[wire(group_by), "day"],
            start=start,
            end=end,
            farm_ids=[str(farm) for farm in farm_ids] if farm_ids is not None else None,
            regions=regions,
        )
        return [
            ReadingAggregate(
                region=row.region,
                farm_id=strawberry.ID(row.farm_id) if row.farm_id else None,
                day=row.day,
                value=row.value,
                count=row.count,
            )
            for row in rows
        ]

    @strawberry.field(description="Models registered in MLflow.")
    async def models(
        self, info: GatewayInfo, first: First = 50, after: After = None
    ) -> Connection[RegisteredModel] | None:
        mlops = info.context.connectors.mlops

        async def fetch(limit: int, cursor: str | None) -> UpstreamPage[RegisteredModelPayload]:
            page = await mlops.registered_models_page(limit=limit, page_token=cursor)
            return UpstreamPage(page.registered_models, page.next_page_token)

        return await connection_from_upstream(
            "models",
            fetch,
            RegisteredModel.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="One registered model by name, or null when it does not exist.")
    async def model(self, info: GatewayInfo, name: str) -> RegisteredModel | None:
        try:
            return RegisteredModel.from_payload(await info.context.connectors.mlops.registered_model(name))
        except NotFoundError:
            return None

    @strawberry.field(description="Forecast the enclosure's stock with the served harvest model.")
    async def harvest_forecast(
        self,
        info: GatewayInfo,
        enclosure_id: strawberry.ID,
        horizon_days: Annotated[int, strawberry.argument(description="How far ahead, in days.")] = 90,
        step_days: Annotated[int, strawberry.argument(description="Days between forecast points.")] = 7,
    ) -> HarvestForecast | None:
        return await forecast_harvest(info, str(enclosure_id), horizon_days, step_days)

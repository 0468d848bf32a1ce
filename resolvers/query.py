"""The root Query type: entry points for dashboards."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from common.errors import NotFoundError
from connectors.payloads.acquisition import Device as DevicePayload
from connectors.payloads.alerting import Alert as AlertPayload
from connectors.payloads.common import Page
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
from resolvers.permissions import can_see_farm, requires_scopes, restrict_farm_ids, visible_farm_ids
from resolvers.prefetch import farm_page_loaders, prefetch
from resolvers.types.alerts import Alert
from resolvers.types.catalog import Dataset, ReadingAggregate
from resolvers.types.devices import Device
from resolvers.types.farms import Enclosure, Farm, Organization
from resolvers.types.forecast import HarvestForecast, forecast_harvest
from resolvers.types.models import RegisteredModel


@strawberry.type(description="Read access to everything Fish Watch knows, fetched live from the subsystems.")
class Query:
    @strawberry.field(description="Organizations, by name.", extensions=[requires_scopes("farms:read")])
    async def organizations(
        self, info: GatewayInfo, first: First = 50, after: After = None
    ) -> Connection[Organization] | None:
        organizations = sorted(await info.context.connectors.core.organizations(), key=lambda org: org.name)
        visible = await visible_farm_ids(info)
        if visible is not None:
            # A tenant sees the organizations it is granted and those that run its farms.
            granted = set(info.context.principal.organization_ids or ())
            if visible:
                farms = await info.context.connectors.core.farms_by_id(sorted(visible))
                granted.update(farm.organization_id for farm in farms)
            organizations = [org for org in organizations if org.id in granted]
        return connection_from_list(
            "organizations",
            organizations,
            Organization.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(
        description="Farms, optionally in one region or of one organization.",
        extensions=[requires_scopes("farms:read")],
    )
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
        visible = await visible_farm_ids(info)
        if visible is not None and not visible:
            return connection_from_list(
                "farms",
                [],
                Farm.from_payload,
                first=first,
                after=after,
                max_page_size=info.context.limits.max_page_size,
            )
        only_ids = sorted(visible) if visible is not None else None

        async def fetch(limit: int, cursor: str | None) -> Page[FarmPayload]:
            return await core.farms_page(
                limit=limit,
                cursor=cursor,
                region=region,
                organization_id=str(organization_id) if organization_id else None,
                ids=only_ids,
            )

        connection = await connection_from_upstream(
            f"farms:{region}:{organization_id}" + (f":{','.join(only_ids)}" if only_ids is not None else ""),
            fetch,
            Farm.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )
        await prefetch(info.context.loaders, farm_page_loaders(info), [str(edge.node.id) for edge in connection.edges])
        return connection

    @strawberry.field(
        description="One farm by id, or null when it does not exist.", extensions=[requires_scopes("farms:read")]
    )
    async def farm(self, info: GatewayInfo, id: strawberry.ID) -> Farm | None:
        if not await can_see_farm(info, str(id)):
            return None
        try:
            return Farm.from_payload(await info.context.loaders.farm.load(str(id)))
        except NotFoundError:
            return None

    @strawberry.field(
        description="One enclosure by id, or null when it does not exist.", extensions=[requires_scopes("farms:read")]
    )
    async def enclosure(self, info: GatewayInfo, id: strawberry.ID) -> Enclosure | None:
        try:
            enclosure = await info.context.loaders.enclosure.load(str(id))
        except NotFoundError:
            return None
        return Enclosure.from_payload(enclosure) if await can_see_farm(info, enclosure.farm_id) else None

    @strawberry.field(
        description="Alerts across farms, newest first, optionally filtered.",
        extensions=[requires_scopes("alerts:read")],
    )
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
        farm_ids = await restrict_farm_ids(info, [str(farm_id)] if farm_id else None)
        if farm_ids == []:
            return connection_from_list(
                "alerts",
                [],
                Alert.from_payload,
                first=first,
                after=after,
                max_page_size=info.context.limits.max_page_size,
            )

        async def fetch(limit: int, cursor: str | None) -> Page[AlertPayload]:
            return await alerting.alerts_page(
                limit=limit,
                cursor=cursor,
                farm_ids=farm_ids or [],
                statuses=statuses,
                severities=severities,
            )

        return await connection_from_upstream(
            f"alerts:{','.join(farm_ids) if farm_ids else None}:{','.join(statuses)}:{','.join(severities)}",
            fetch,
            Alert.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(
        description="One alert by id with its history, or null when it does not exist.",
        extensions=[requires_scopes("alerts:read")],
    )
    async def alert(self, info: GatewayInfo, id: strawberry.ID) -> Alert | None:
        try:
            alert = await info.context.connectors.alerting.alert(str(id))
        except NotFoundError:
            return None
        return Alert.from_payload(alert) if await can_see_farm(info, alert.farm_id) else None

    @strawberry.field(description="Field devices, optionally filtered.", extensions=[requires_scopes("devices:read")])
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
        farm_ids = await restrict_farm_ids(info, [str(farm_id)] if farm_id else None)
        if farm_ids == []:
            return connection_from_list(
                "devices",
                [],
                Device.from_payload,
                first=first,
                after=after,
                max_page_size=info.context.limits.max_page_size,
            )

        async def fetch(limit: int, cursor: str | None) -> Page[DevicePayload]:
            return await acquisition.devices_page(
                limit=limit,
                cursor=cursor,
                farm_ids=farm_ids or [],
                kind=wire(kind) if kind else None,
                status=wire(status) if status else None,
            )

        return await connection_from_upstream(
            f"devices:{','.join(farm_ids) if farm_ids else None}:{kind}:{status}",
            fetch,
            Device.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(description="Datasets in the Data Fabric catalog.", extensions=[requires_scopes("catalog:read")])
    async def datasets(self, info: GatewayInfo, first: First = 50, after: After = None) -> Connection[Dataset] | None:
        fabric = info.context.connectors.fabric

        async def fetch(limit: int, cursor: str | None) -> Page[DatasetPayload]:
            return await fabric.datasets_page(limit=limit, cursor=cursor)

        return await connection_from_upstream(
            "datasets",
            fetch,
            Dataset.from_payload,
            first=first,
            after=after,
            max_page_size=info.context.limits.max_page_size,
        )

    @strawberry.field(
        description="One dataset by id, or null when it does not exist.", extensions=[requires_scopes("catalog:read")]
    )
    async def dataset(self, info: GatewayInfo, id: strawberry.ID) -> Dataset | None:
        try:
            return Dataset.from_payload(await info.context.connectors.fabric.dataset(str(id)))
        except NotFoundError:
            return None

    @strawberry.field(
        description="Daily aggregates of a metric across farms, grouped by region or farm.",
        extensions=[requires_scopes("catalog:read")],
    )
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
        # A tenant's aggregates cover only its own farms, whatever farmIds it asks for.
        allowed = await restrict_farm_ids(info, [str(farm) for farm in farm_ids] if farm_ids is not None else None)
        if allowed == []:
            return []
        rows = await info.context.connectors.fabric.aggregates(
            metric=wire(metric),
            function=wire(function),
            group_by=[wire(group_by), "day"],
            start=start,
            end=end,
            farm_ids=allowed,
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

    @strawberry.field(description="Models registered in MLflow.", extensions=[requires_scopes("models:read")])
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

    @strawberry.field(
        description="One registered model by name, or null when it does not exist.",
        extensions=[requires_scopes("models:read")],
    )
    async def model(self, info: GatewayInfo, name: str) -> RegisteredModel | None:
        try:
            return RegisteredModel.from_payload(await info.context.connectors.mlops.registered_model(name))
        except NotFoundError:
            return None

    @strawberry.field(
        description="Forecast the enclosure's stock with the served harvest model.",
        extensions=[requires_scopes("forecasts:read", "farms:read")],
    )
    async def harvest_forecast(
        self,
        info: GatewayInfo,
        enclosure_id: strawberry.ID,
        horizon_days: Annotated[int, strawberry.argument(description="How far ahead, in days.")] = 90,
        step_days: Annotated[int, strawberry.argument(description="Days between forecast points.")] = 7,
    ) -> HarvestForecast | None:
        try:
            enclosure = await info.context.loaders.enclosure.load(str(enclosure_id))
        except NotFoundError:
            enclosure = None
        if enclosure is None or not await can_see_farm(info, enclosure.farm_id):
            raise NotFoundError(f"enclosure '{enclosure_id}' not found", id=str(enclosure_id))
        return await forecast_harvest(info, str(enclosure_id), horizon_days, step_days)

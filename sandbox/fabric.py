"""Data Fabric API: the dataset catalogue with lineage, fleet aggregates and dataset exports."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from sandbox import idempotency
from sandbox.aggregates import FUNCTIONS, GROUP_KEYS, DailyStatsCache, SiteGroup, aggregate
from sandbox.catalog import spec_of
from sandbox.data import SandboxData
from sandbox.http import ApiError, create_base_app, parse_body, read_json_object, to_json
from sandbox.idempotency import idempotent
from sandbox.model import METRICS, REGIONS, Export
from sandbox.query import Query, parse_time

EXPORT_BUCKET = "s3://fishwatch-exports"
# Exports and aggregates may span at most this many days; older data is archived.
MAX_WINDOW_DAYS = 800


class AggregateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    metric: str
    function: str
    group_by: list[str] = Field(min_length=1, max_length=3)
    from_: str = Field(alias="from")
    to: str
    farm_ids: list[str] | None = None
    regions: list[str] | None = None


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    dataset_id: str
    from_: str = Field(alias="from")
    to: str
    farm_ids: list[str] | None = None


def parse_window(start_raw: str, end_raw: str) -> tuple[datetime, datetime]:
    start, end = parse_time("field 'from'", start_raw), parse_time("field 'to'", end_raw)
    if start >= end:
        raise ApiError.invalid(f"field 'from' {start_raw} must be before field 'to' {end_raw}")
    if end - start > timedelta(days=MAX_WINDOW_DAYS):
        raise ApiError.invalid(f"from and to are more than {MAX_WINDOW_DAYS} days apart; split the request")
    return start, end


class FabricApi:
    """Request handlers over the shared data set."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data
        self.daily_stats = DailyStatsCache(data.water)

    async def list_datasets(self, request: web.Request) -> web.Response:
        query = Query(request, [], paged=True)
        items, next_cursor = query.page().slice(list(self.data.datasets.values()), lambda dataset: (dataset.id,))
        return web.json_response({"items": to_json(items), "next_cursor": next_cursor})

    async def get_dataset(self, request: web.Request) -> web.Response:
        Query(request, [])
        dataset_id = request.match_info["id"]
        dataset = self.data.datasets.get(dataset_id)
        if dataset is None:
            raise ApiError.not_found("dataset", dataset_id)
        return web.json_response(to_json(dataset))

    def _check_farms(self, farm_ids: list[str] | None) -> set[str]:
        for farm_id in farm_ids or ():
            if farm_id not in self.data.farms:
                raise ApiError.not_found("farm", farm_id)
        return set(farm_ids or ())

    async def aggregates(self, request: web.Request) -> web.Response:
        Query(request, [])
        body = parse_body(AggregateRequest, await read_json_object(request))
        if body.metric not in METRICS:
            raise ApiError.invalid(f"field 'metric': '{body.metric}' is not one of: {', '.join(METRICS)}")
        if body.function not in FUNCTIONS:
            raise ApiError.invalid(f"field 'function': '{body.function}' is not one of: {', '.join(FUNCTIONS)}")
        for key in body.group_by:
            if key not in GROUP_KEYS:
                raise ApiError.invalid(f"field 'group_by': '{key}' is not one of: {', '.join(GROUP_KEYS)}")
        if len(set(body.group_by)) != len(body.group_by):
            raise ApiError.invalid(f"field 'group_by' repeats a key: {body.group_by}")
        for region in body.regions or ():
            if region not in REGIONS:
                raise ApiError.invalid(f"field 'regions': '{region}' is not one of: {', '.join(REGIONS)}")
        start, end = parse_window(body.from_, body.to)
        farm_ids = self._check_farms(body.farm_ids)
        regions = set(body.regions or ())

        sites = []
        for site in self.data.water.sites.values():
            farm = self.data.farms[site.farm_id]
            if (farm_ids and farm.id not in farm_ids) or (regions and farm.region not in regions):
                continue
            sites.append(SiteGroup(site, farm.region, farm.id))
        # Items list the group keys in a fixed order (region, farm_id, day) whatever order group_by used.
        group_by = [key for key in GROUP_KEYS if key in body.group_by]
        items = aggregate(self.daily_stats, sites, body.metric, body.function, group_by, start, end)
        return web.json_response({"items": items})

    async def create_export(self, request: web.Request) -> web.Response:
        Query(request, [])
        body = parse_body(ExportRequest, await read_json_object(request))
        spec = spec_of(body.dataset_id)
        if spec is None or body.dataset_id not in self.data.datasets:
            raise ApiError.not_found("dataset", body.dataset_id)
        start, end = parse_window(body.from_, body.to)
        farm_ids = self._check_farms(body.farm_ids)

        if body.dataset_id == "ds-harvest-history":
            row_count = sum(
                1
                for harvest in self.data.harvests.values()
                if start.date() <= harvest.date < end.date() and (not farm_ids or harvest.farm_id in farm_ids)
            )
        else:
            row_count = self._rows_by_rate(spec.rows_per_enclosure_day, spec.retention_days, start, end, farm_ids)

        number = len(self.data.exports) + 1
        created_at = self.data.clock.now()
        export_id = f"exp-{number:05d}"
        export = Export(
            id=export_id,
            dataset_id=body.dataset_id,
            row_count=row_count,
            uri=f"{EXPORT_BUCKET}/{body.dataset_id}/{export_id}.parquet",
            created_at=created_at,
        )
        self.data.exports[export.id] = export
        return web.json_response(to_json(export), status=201)

    def _rows_by_rate(
        self, rate: float, retention_days: int | None, start: datetime, end: datetime, farm_ids: set[str]
    ) -> int:
        """Estimate rows as rate x enclosure-days, counting only days the dataset still holds."""
        now = self.data.now
        oldest = now - timedelta(days=retention_days) if retention_days is not None else None
        total_days = 0.0
        for enclosure in self.data.enclosures.values():
            if farm_ids and enclosure.farm_id not in farm_ids:
                continue
            first = max(start, enclosure.created_at, oldest) if oldest else max(start, enclosure.created_at)
            last = min(end, now)
            if last > first:
                total_days += (last - first).total_seconds() / 86400
        return round(rate * total_days)


def create_app(data: SandboxData) -> web.Application:
    """Build the Data Fabric app over `data`."""
    api = FabricApi(data)
    app = create_base_app()
    idempotency.install(app)
    app.router.add_get("/v1/datasets", api.list_datasets)
    app.router.add_get("/v1/datasets/{id}", api.get_dataset)
    # Aggregates only read, so they need no Idempotency-Key handling and are safe to retry.
    app.router.add_post("/v1/aggregates", api.aggregates)
    app.router.add_post("/v1/exports", idempotent(api.create_export))
    return app

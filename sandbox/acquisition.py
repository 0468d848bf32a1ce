"""Data Acquisition API: devices, water readings (raw, bucketed, latest) and camera observations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from sandbox import idempotency, observations, readings
from sandbox.data import SandboxData
from sandbox.http import ApiError, create_base_app, format_time, parse_body, read_json_object, to_json
from sandbox.idempotency import idempotent
from sandbox.model import DEVICE_KINDS, DEVICE_STATUSES, METRICS, UNITS, Device, Observation
from sandbox.query import Query
from sandbox.water import slot_time

DEFAULT_READINGS_WINDOW = timedelta(hours=24)
MIN_INTERVAL_S = 60
MAX_INTERVAL_S = 86400
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class DeviceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    farm_id: str
    enclosure_id: str
    kind: str
    model: Text
    serial: Text


class AcquisitionApi:
    """Request handlers over the shared data set."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data

    async def list_devices(self, request: web.Request) -> web.Response:
        query = Query(request, ["farm_id", "enclosure_id", "id", "kind", "status"], paged=True)
        farm_ids = set(query.ids("farm_id"))
        enclosure_ids = set(query.ids("enclosure_id"))
        ids = set(query.ids("id"))
        kinds = set(query.choices("kind", DEVICE_KINDS))
        statuses = set(query.choices("status", DEVICE_STATUSES))
        matches = [
            device
            for device in self.data.devices.values()
            if (not farm_ids or device.farm_id in farm_ids)
            and (not enclosure_ids or device.enclosure_id in enclosure_ids)
            and (not ids or device.id in ids)
            and (not kinds or device.kind in kinds)
            and (not statuses or device.status in statuses)
        ]
        items, next_cursor = query.page().slice(matches, lambda device: (device.id,))
        return web.json_response({"items": to_json(items), "next_cursor": next_cursor})

    async def get_device(self, request: web.Request) -> web.Response:
        Query(request, [])
        device_id = request.match_info["id"]
        device = self.data.devices.get(device_id)
        if device is None:
            raise ApiError.not_found("device", device_id)
        return web.json_response(to_json(device))

    async def create_device(self, request: web.Request) -> web.Response:
        body = parse_body(DeviceCreate, await read_json_object(request))
        if body.kind not in DEVICE_KINDS:
            raise ApiError.invalid(f"field 'kind': '{body.kind}' is not one of: {', '.join(DEVICE_KINDS)}")
        if body.farm_id not in self.data.farms:
            raise ApiError.not_found("farm", body.farm_id)
        enclosure = self.data.enclosures.get(body.enclosure_id)
        if enclosure is None:
            raise ApiError.not_found("enclosure", body.enclosure_id)
        if enclosure.farm_id != body.farm_id:
            owner = enclosure.farm_id
            raise ApiError.invalid(
                f"field 'enclosure_id': enclosure '{enclosure.id}' belongs to farm '{owner}', not '{body.farm_id}'"
            )

        # Device ids name the enclosure and kind, so an enclosure has at most one device of each kind.
        device_id = f"dev-{enclosure.id[4:]}-{'wm' if body.kind == 'water_monitor' else 'cam'}"
        if device_id in self.data.devices:
            raise ApiError.conflict(f"enclosure '{enclosure.id}' already has a {body.kind}: '{device_id}'")
        if any(device.serial == body.serial for device in self.data.devices.values()):
            raise ApiError.conflict(f"field 'serial': a device with serial '{body.serial}' already exists")
        device = Device(
            id=device_id,
            farm_id=body.farm_id,
            enclosure_id=enclosure.id,
            kind=body.kind,
            model=body.model,
            serial=body.serial,
            status="offline",
            last_contact_at=None,
            installed_at=self.data.clock.now(),
        )
        self.data.devices[device.id] = device
        return web.json_response(to_json(device), status=201)

    async def get_readings(self, request: web.Request) -> web.Response:
        query = Query(request, ["enclosure_id", "metric", "from", "to", "interval_s"], paged=True)
        enclosure_id = query.text("enclosure_id", required=True)
        metric = query.choice("metric", METRICS, required=True)
        interval_s = query.integer("interval_s", MIN_INTERVAL_S, MAX_INTERVAL_S)
        start, end = query.window()
        assert enclosure_id is not None and metric is not None
        if enclosure_id not in self.data.enclosures:
            raise ApiError.not_found("enclosure", enclosure_id)
        end = end or self.data.clock.now()
        start = start or end - DEFAULT_READINGS_WINDOW
        if start >= end:
            raise ApiError.invalid(f"from {format_time(start)} must be before to {format_time(end)}")

        if interval_s is not None:
            return self._buckets(query, enclosure_id, metric, interval_s, start, end)
        page = query.page()
        start_slot, end_slot = readings.slot_range(start, end)
        if page.after is not None:
            if len(page.after) != 1 or not isinstance(page.after[0], int):
                raise ApiError.invalid("cursor is not a cursor of this list; pass next_cursor unchanged")
            start_slot = max(start_slot, page.after[0] + 1)
        site = self.data.water.sites.get(enclosure_id)
        points: list[tuple[int, float]] = []
        has_more = False
        if site is not None and metric in site.metrics:
            points, has_more = readings.raw_page(self.data.water, site, metric, start_slot, end_slot, page.limit)
        next_cursor = page.cursor_for((points[-1][0],)) if has_more else None
        items = [{"time": format_time(slot_time(slot)), "value": value} for slot, value in points]
        return web.json_response({"items": items, "next_cursor": next_cursor, "unit": UNITS[metric]})

    def _buckets(
        self, query: Query, enclosure_id: str, metric: str, interval_s: int, start: datetime, end: datetime
    ) -> web.Response:
        for name in ("limit", "cursor"):
            if query.text(name) is not None:
                raise ApiError.invalid(
                    f"query parameter '{name}' applies to raw readings only; bucketed readings are not paged"
                )
        count = readings.bucket_count(start, end, interval_s)
        if count > readings.MAX_BUCKETS:
            raise ApiError.invalid(
                f"interval_s {interval_s} gives {count} buckets between from and to; at most {readings.MAX_BUCKETS} "
                "are allowed, so raise interval_s or shorten the window"
            )
        site = self.data.water.sites.get(enclosure_id)
        buckets: list[readings.Bucket] = []
        if site is not None and metric in site.metrics:
            start_slot, end_slot = readings.slot_range(start, end)
            buckets = readings.aggregate(self.data.water, site, metric, start_slot, end_slot, interval_s)
        items = [
            {
                "bucket_start": format_time(datetime.fromtimestamp(bucket.bucket_start, UTC)),
                "min": bucket.min,
                "max": bucket.max,
                "mean": round(bucket.total / bucket.count, 3),
                "count": bucket.count,
            }
            for bucket in buckets
        ]
        return web.json_response({"items": items, "unit": UNITS[metric]})

    async def latest_readings(self, request: web.Request) -> web.Response:
        query = Query(request, ["farm_id", "enclosure_id"])
        farm_ids = set(query.ids("farm_id"))
        enclosure_ids = set(query.ids("enclosure_id"))
        items = []
        for site in sorted(self.data.water.sites.values(), key=lambda s: s.enclosure_id):
            if (farm_ids and site.farm_id not in farm_ids) or (
                enclosure_ids and site.enclosure_id not in enclosure_ids
            ):
                continue
            for metric, value, time in readings.latest(self.data.water, site):
                items.append(
                    {
                        "enclosure_id": site.enclosure_id,
                        "farm_id": site.farm_id,
                        "metric": metric,
                        "value": value,
                        "unit": UNITS[metric],
                        "time": format_time(time),
                    }
                )
        return web.json_response({"items": items})

    async def list_observations(self, request: web.Request) -> web.Response:
        query = Query(request, ["enclosure_id", "farm_id", "from", "to"], paged=True)
        enclosure_ids = set(query.ids("enclosure_id"))
        farm_ids = set(query.ids("farm_id"))
        start, end = query.window()
        page = query.page()
        after: tuple[int, str] | None = None
        if page.after is not None:
            if len(page.after) != 2 or not isinstance(page.after[0], int) or not isinstance(page.after[1], str):
                raise ApiError.invalid("cursor is not a cursor of this list; pass next_cursor unchanged")
            after = (page.after[0], page.after[1])

        cameras = observations.cameras_for(self.data, enclosure_ids, farm_ids)
        items: list[Observation] = []
        next_cursor = None
        for observation in observations.iterate(self.data, cameras, start, end, after):
            if len(items) == page.limit:
                next_cursor = page.cursor_for(observations.observation_key(items[-1]))
                break
            items.append(observation)
        return web.json_response({"items": to_json(items), "next_cursor": next_cursor})


def create_app(data: SandboxData) -> web.Application:
    """Build the Data Acquisition app over `data`."""
    api = AcquisitionApi(data)
    app = create_base_app()
    idempotency.install(app)
    app.router.add_get("/v1/devices", api.list_devices)
    app.router.add_post("/v1/devices", idempotent(api.create_device))
    app.router.add_get("/v1/devices/{id}", api.get_device)
    app.router.add_get("/v1/readings", api.get_readings)
    app.router.add_get("/v1/readings/latest", api.latest_readings)
    app.router.add_get("/v1/observations", api.list_observations)
    return app

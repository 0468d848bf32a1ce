"""Core System API: organizations, farms, enclosures, stocks, tagged fish, harvests, thresholds."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from sandbox import idempotency
from sandbox.data import SandboxData
from sandbox.http import ApiError, create_base_app, parse_body, read_json_object, to_json
from sandbox.idempotency import idempotent
from sandbox.model import ENCLOSURE_KINDS, REGIONS, Enclosure, Farm
from sandbox.query import Query

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class FarmCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    organization_id: str
    name: Name
    region: str
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class EnclosureCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    farm_id: str
    name: Name
    kind: str
    volume_m3: float = Field(gt=0, le=1_000_000)


def list_response(items: list[Any], next_cursor: str | None) -> web.Response:
    return web.json_response({"items": [to_json(item) for item in items], "next_cursor": next_cursor})


class CoreApi:
    """Request handlers over the shared data set."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data

    async def list_organizations(self, request: web.Request) -> web.Response:
        query = Query(request, ["id"], paged=True)
        ids = set(query.ids("id"))
        matches = [org for org in self.data.organizations.values() if not ids or org.id in ids]
        return list_response(*query.page().slice(matches, lambda org: (org.id,)))

    async def get_organization(self, request: web.Request) -> web.Response:
        Query(request, [])
        org_id = request.match_info["id"]
        org = self.data.organizations.get(org_id)
        if org is None:
            raise ApiError.not_found("organization", org_id)
        return web.json_response(to_json(org))

    async def list_farms(self, request: web.Request) -> web.Response:
        query = Query(request, ["organization_id", "region", "id"], paged=True)
        org_ids = set(query.ids("organization_id"))
        regions = set(query.choices("region", REGIONS))
        ids = set(query.ids("id"))
        matches = [
            farm
            for farm in self.data.farms.values()
            if (not org_ids or farm.organization_id in org_ids)
            and (not regions or farm.region in regions)
            and (not ids or farm.id in ids)
        ]
        return list_response(*query.page().slice(matches, lambda farm: (farm.id,)))

    async def get_farm(self, request: web.Request) -> web.Response:
        Query(request, [])
        farm_id = request.match_info["id"]
        farm = self.data.farms.get(farm_id)
        if farm is None:
            raise ApiError.not_found("farm", farm_id)
        return web.json_response(to_json(farm))

    async def create_farm(self, request: web.Request) -> web.Response:
        body = parse_body(FarmCreate, await read_json_object(request))
        if body.region not in REGIONS:
            raise ApiError.invalid(f"field 'region': '{body.region}' is not one of: {', '.join(REGIONS)}")
        if body.organization_id not in self.data.organizations:
            raise ApiError.not_found("organization", body.organization_id)

        number = max(int(farm_id[5:]) for farm_id in self.data.farms) + 1
        farm = Farm(
            id=f"farm-{number:03d}",
            organization_id=body.organization_id,
            name=body.name,
            region=body.region,
            latitude=body.latitude,
            longitude=body.longitude,
            created_at=self.data.clock.now(),
        )
        self.data.farms[farm.id] = farm
        return web.json_response(to_json(farm), status=201)

    async def list_enclosures(self, request: web.Request) -> web.Response:
        query = Query(request, ["farm_id", "id"], paged=True)
        farm_ids = set(query.ids("farm_id"))
        ids = set(query.ids("id"))
        matches = [
            enclosure
            for enclosure in self.data.enclosures.values()
            if (not farm_ids or enclosure.farm_id in farm_ids) and (not ids or enclosure.id in ids)
        ]
        return list_response(*query.page().slice(matches, lambda enclosure: (enclosure.id,)))

    async def get_enclosure(self, request: web.Request) -> web.Response:
        Query(request, [])
        enclosure_id = request.match_info["id"]
        enclosure = self.data.enclosures.get(enclosure_id)
        if enclosure is None:
            raise ApiError.not_found("enclosure", enclosure_id)
        return web.json_response(to_json(enclosure))

    async def create_enclosure(self, request: web.Request) -> web.Response:
        body = parse_body(EnclosureCreate, await read_json_object(request))
        if body.kind not in ENCLOSURE_KINDS:
            raise ApiError.invalid(f"field 'kind': '{body.kind}' is not one of: {', '.join(ENCLOSURE_KINDS)}")
        if body.farm_id not in self.data.farms:
            raise ApiError.not_found("farm", body.farm_id)

        # Pens are numbered per farm: enc-<farm number>-<pen number>.
        farm_number = body.farm_id[5:]
        pen_numbers = [int(e.id.rsplit("-", 1)[1]) for e in self.data.enclosures.values() if e.farm_id == body.farm_id]
        enclosure = Enclosure(
            id=f"enc-{farm_number}-{max(pen_numbers, default=0) + 1:02d}",
            farm_id=body.farm_id,
            name=body.name,
            kind=body.kind,
            volume_m3=body.volume_m3,
            created_at=self.data.clock.now(),
        )
        self.data.enclosures[enclosure.id] = enclosure
        return web.json_response(to_json(enclosure), status=201)

    async def list_stocks(self, request: web.Request) -> web.Response:
        query = Query(request, ["enclosure_id", "farm_id"], paged=True)
        enclosure_ids = set(query.ids("enclosure_id"))
        farm_ids = set(query.ids("farm_id"))
        matches = [
            stock
            for stock in self.data.stocks.values()
            if (not enclosure_ids or stock.enclosure_id in enclosure_ids)
            and (not farm_ids or stock.farm_id in farm_ids)
        ]
        return list_response(*query.page().slice(matches, lambda stock: (stock.enclosure_id,)))

    async def list_fish(self, request: web.Request) -> web.Response:
        query = Query(request, ["enclosure_id"], paged=True)
        enclosure_ids = set(query.ids("enclosure_id"))
        matches = [fish for fish in self.data.fish.values() if not enclosure_ids or fish.enclosure_id in enclosure_ids]
        return list_response(*query.page().slice(matches, lambda fish: (fish.id,)))

    async def list_harvests(self, request: web.Request) -> web.Response:
        query = Query(request, ["farm_id", "enclosure_id", "from", "to"], paged=True)
        farm_ids = set(query.ids("farm_id"))
        enclosure_ids = set(query.ids("enclosure_id"))
        first_day, last_day = query.day("from"), query.day("to")
        if first_day is not None and last_day is not None and first_day > last_day:
            raise ApiError.invalid(f"from {first_day} is after to {last_day}")
        matches = [
            harvest
            for harvest in self.data.harvests.values()
            if (not farm_ids or harvest.farm_id in farm_ids)
            and (not enclosure_ids or harvest.enclosure_id in enclosure_ids)
            and (first_day is None or harvest.date >= first_day)
            and (last_day is None or harvest.date <= last_day)
        ]
        return list_response(*query.page().slice(matches, lambda harvest: (harvest.date.isoformat(), harvest.id)))

    async def list_thresholds(self, request: web.Request) -> web.Response:
        query = Query(request, ["enclosure_id", "farm_id"], paged=True)
        enclosure_ids = set(query.ids("enclosure_id"))
        farm_ids = set(query.ids("farm_id"))
        enclosures = self.data.enclosures
        matches = [
            threshold
            for threshold in self.data.thresholds.values()
            if (not enclosure_ids or threshold.enclosure_id in enclosure_ids)
            and (not farm_ids or enclosures[threshold.enclosure_id].farm_id in farm_ids)
        ]
        return list_response(*query.page().slice(matches, lambda threshold: (threshold.id,)))


def create_app(data: SandboxData) -> web.Application:
    """Build the Core System app over `data`."""
    api = CoreApi(data)
    app = create_base_app()
    idempotency.install(app)
    app.router.add_get("/v1/organizations", api.list_organizations)
    app.router.add_get("/v1/organizations/{id}", api.get_organization)
    app.router.add_get("/v1/farms", api.list_farms)
    app.router.add_post("/v1/farms", idempotent(api.create_farm))
    app.router.add_get("/v1/farms/{id}", api.get_farm)
    app.router.add_get("/v1/enclosures", api.list_enclosures)
    app.router.add_post("/v1/enclosures", idempotent(api.create_enclosure))
    app.router.add_get("/v1/enclosures/{id}", api.get_enclosure)
    app.router.add_get("/v1/stocks", api.list_stocks)
    app.router.add_get("/v1/fish", api.list_fish)
    app.router.add_get("/v1/harvests", api.list_harvests)
    app.router.add_get("/v1/thresholds", api.list_thresholds)
    return app

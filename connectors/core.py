"""Core System connector: organizations, farms, enclosures, stocks, fish, harvests, thresholds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from connectors.base import PagedConnector
from connectors.payloads.common import Page
from connectors.payloads.core import Enclosure, Farm, Fish, Harvest, Organization, Stock, Threshold


class CoreConnector(PagedConnector):
    """Typed calls to the Core System REST API (docs/api/core.openapi.yaml)."""

    async def organizations(self) -> list[Organization]:
        return await self.list_all("v1/organizations", Organization)

    async def organizations_by_id(self, ids: Sequence[str]) -> list[Organization]:
        wanted = set(ids)
        return [org for org in await self.organizations() if org.id in wanted]

    async def farms_page(
        self,
        *,
        limit: int,
        cursor: str | None,
        region: str | None = None,
        organization_id: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> Page[Farm]:
        params = {"region": region, "organization_id": organization_id, "id": list(ids) if ids else None}
        return await self.page("v1/farms", Farm, params, limit=limit, cursor=cursor)

    async def farms_by_id(self, ids: Sequence[str]) -> list[Farm]:
        return await self.list_all("v1/farms", Farm, {"id": list(ids)})

    async def enclosures_by_farm(self, farm_ids: Sequence[str]) -> list[Enclosure]:
        return await self.list_all("v1/enclosures", Enclosure, {"farm_id": list(farm_ids)})

    async def enclosures_by_id(self, ids: Sequence[str]) -> list[Enclosure]:
        return await self.list_all("v1/enclosures", Enclosure, {"id": list(ids)})

    async def stocks_by_enclosure(self, enclosure_ids: Sequence[str]) -> list[Stock]:
        return await self.list_all("v1/stocks", Stock, {"enclosure_id": list(enclosure_ids)})

    async def stocks_by_farm(self, farm_ids: Sequence[str]) -> list[Stock]:
        return await self.list_all("v1/stocks", Stock, {"farm_id": list(farm_ids)})

    async def fish_page(self, enclosure_id: str, *, limit: int, cursor: str | None) -> Page[Fish]:
        return await self.page("v1/fish", Fish, {"enclosure_id": [enclosure_id]}, limit=limit, cursor=cursor)

    async def harvests(
        self,
        *,
        farm_ids: Sequence[str] = (),
        enclosure_ids: Sequence[str] = (),
        start: dt.date | None = None,
        end: dt.date | None = None,
    ) -> list[Harvest]:
        params = {
            "farm_id": list(farm_ids) or None,
            "enclosure_id": list(enclosure_ids) or None,
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
        }
        return await self.list_all("v1/harvests", Harvest, params)

    async def thresholds_by_farm(self, farm_ids: Sequence[str]) -> list[Threshold]:
        return await self.list_all("v1/thresholds", Threshold, {"farm_id": list(farm_ids)})

    async def thresholds_by_enclosure(self, enclosure_ids: Sequence[str]) -> list[Threshold]:
        return await self.list_all("v1/thresholds", Threshold, {"enclosure_id": list(enclosure_ids)})

    async def create_farm(
        self,
        *,
        organization_id: str,
        name: str,
        region: str,
        latitude: float,
        longitude: float,
        idempotency_key: str | None = None,
    ) -> Farm:
        """Register a farm; with the same `idempotency_key` a repeat returns the first farm."""
        body = {
            "organization_id": organization_id,
            "name": name,
            "region": region,
            "latitude": latitude,
            "longitude": longitude,
        }
        result: Farm = await self.call("POST", "v1/farms", Farm, json_body=body, idempotency_key=idempotency_key)
        return result

    async def create_enclosure(
        self, *, farm_id: str, name: str, kind: str, volume_m3: float, idempotency_key: str | None = None
    ) -> Enclosure:
        """Register an enclosure of a farm; with the same `idempotency_key` a repeat returns the first one."""
        body = {"farm_id": farm_id, "name": name, "kind": kind, "volume_m3": volume_m3}
        result: Enclosure = await self.call(
            "POST", "v1/enclosures", Enclosure, json_body=body, idempotency_key=idempotency_key
        )
        return result

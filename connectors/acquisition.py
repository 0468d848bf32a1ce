"""Data Acquisition connector: devices, water-quality readings and camera observations."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from connectors.base import PagedConnector
from connectors.payloads.acquisition import Device, LatestReading, LatestReadings, Observation, ReadingBuckets
from connectors.payloads.common import Page


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class AcquisitionConnector(PagedConnector):
    """Typed calls to the Data Acquisition REST API (docs/api/acquisition.openapi.yaml)."""

    async def devices_page(
        self,
        *,
        limit: int,
        cursor: str | None,
        farm_ids: Sequence[str] = (),
        enclosure_ids: Sequence[str] = (),
        kind: str | None = None,
        status: str | None = None,
    ) -> Page[Device]:
        params = {
            "farm_id": list(farm_ids) or None,
            "enclosure_id": list(enclosure_ids) or None,
            "kind": kind,
            "status": status,
        }
        return await self.page("v1/devices", Device, params, limit=limit, cursor=cursor)

    async def devices_by_farm(self, farm_ids: Sequence[str]) -> list[Device]:
        return await self.list_all("v1/devices", Device, {"farm_id": list(farm_ids)})

    async def devices_by_enclosure(self, enclosure_ids: Sequence[str]) -> list[Device]:
        return await self.list_all("v1/devices", Device, {"enclosure_id": list(enclosure_ids)})

    async def latest_readings(
        self, *, farm_ids: Sequence[str] = (), enclosure_ids: Sequence[str] = ()
    ) -> list[LatestReading]:
        params = {"farm_id": list(farm_ids) or None, "enclosure_id": list(enclosure_ids) or None}
        result: LatestReadings = await self.call("GET", "v1/readings/latest", LatestReadings, params=params)
        return result.items

    async def reading_buckets(
        self, enclosure_id: str, metric: str, start: dt.datetime, end: dt.datetime, interval_s: int
    ) -> ReadingBuckets:
        params = {
            "enclosure_id": enclosure_id,
            "metric": metric,
            "from": _time(start),
            "to": _time(end),
            "interval_s": interval_s,
        }
        result: ReadingBuckets = await self.call("GET", "v1/readings", ReadingBuckets, params=params)
        return result

    async def observations(
        self,
        *,
        enclosure_ids: Sequence[str] = (),
        farm_ids: Sequence[str] = (),
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
    ) -> list[Observation]:
        params = {
            "enclosure_id": list(enclosure_ids) or None,
            "farm_id": list(farm_ids) or None,
            "from": _time(start),
            "to": _time(end),
        }
        return await self.list_all("v1/observations", Observation, params)

    async def observations_page(
        self, enclosure_id: str, *, limit: int, cursor: str | None
    ) -> Page[Observation]:
        return await self.page(
            "v1/observations", Observation, {"enclosure_id": [enclosure_id]}, limit=limit, cursor=cursor
        )

    async def create_device(
        self,
        *,
        farm_id: str,
        enclosure_id: str,
        kind: str,
        model: str,
        serial: str,
        idempotency_key: str | None = None,
    ) -> Device:
        """Register a device; it starts "offline" until its first contact."""
        body = {"farm_id": farm_id, "enclosure_id": enclosure_id, "kind": kind, "model": model, "serial": serial}
        result: Device = await self.call("POST", "v1/devices", Device, json_body=body, idempotency_key=idempotency_key)
        return result

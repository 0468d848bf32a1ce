"""Field devices: water monitors and underwater cameras."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from connectors.payloads.acquisition import Device as DevicePayload
from resolvers.context import GatewayInfo
from resolvers.enums import DeviceKind, DeviceStatus
from resolvers.permissions import requires_scopes

if TYPE_CHECKING:
    from resolvers.types.farms import Enclosure, Farm


@strawberry.type(description="A water monitor or camera registered with Data Acquisition.")
class Device:
    id: strawberry.ID = strawberry.field(description="Device id in Data Acquisition.")
    kind: DeviceKind = strawberry.field(description="What the device is.")
    model: str = strawberry.field(description="Manufacturer's model name.")
    serial: str | None = strawberry.field(description="Manufacturer's serial number.")
    status: DeviceStatus = strawberry.field(description="Operating state as last reported.")
    last_contact_at: dt.datetime | None = strawberry.field(description="Last time the device reported (UTC).")
    installed_at: dt.datetime | None = strawberry.field(description="When it was installed (UTC).")
    farm_id: strawberry.Private[str]
    enclosure_id: strawberry.Private[str | None]

    @classmethod
    def from_payload(cls, payload: DevicePayload) -> Device:
        return cls(
            id=strawberry.ID(payload.id),
            kind=DeviceKind(payload.kind),
            model=payload.model,
            serial=payload.serial,
            status=DeviceStatus(payload.status),
            last_contact_at=payload.last_contact_at,
            installed_at=payload.installed_at,
            farm_id=payload.farm_id,
            enclosure_id=payload.enclosure_id,
        )

    @strawberry.field(
        description="The farm the device is installed at.",
        extensions=[requires_scopes("farms:read")],
    )
    async def farm(self, info: GatewayInfo) -> Annotated[Farm, strawberry.lazy("resolvers.types.farms")] | None:
        from resolvers.types.farms import Farm

        return Farm.from_payload(await info.context.loaders.farm.load(self.farm_id))

    @strawberry.field(
        description="The enclosure the device watches, if it is installed in one.",
        extensions=[requires_scopes("farms:read")],
    )
    async def enclosure(
        self, info: GatewayInfo
    ) -> Annotated[Enclosure, strawberry.lazy("resolvers.types.farms")] | None:
        from resolvers.types.farms import Enclosure

        if self.enclosure_id is None:
            return None
        return Enclosure.from_payload(await info.context.loaders.enclosure.load(self.enclosure_id))

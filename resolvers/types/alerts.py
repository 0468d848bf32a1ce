"""Alerts raised when a reading leaves its threshold, with their history."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import strawberry

from connectors.payloads.alerting import Alert as AlertPayload
from resolvers.context import GatewayInfo
from resolvers.enums import AlertSeverity, AlertStatus, Metric
from resolvers.permissions import requires_scopes

if TYPE_CHECKING:
    from resolvers.types.farms import Enclosure, Farm


@strawberry.type(description="One change of an alert's status.")
class AlertHistoryEntry:
    time: dt.datetime = strawberry.field(description="When the change happened (UTC).")
    status: AlertStatus = strawberry.field(description="Status after the change.")
    actor: str | None = strawberry.field(description="Who made the change, if a person did.")
    note: str | None = strawberry.field(description="Note left with the change.")


@strawberry.type(description="An alert raised by the Alerting subsystem.")
class Alert:
    id: strawberry.ID = strawberry.field(description="Alert id in the Alerting subsystem.")
    severity: AlertSeverity = strawberry.field(description="How urgent it is.")
    status: AlertStatus = strawberry.field(description="Where it is in its life cycle.")
    metric: Metric | None = strawberry.field(description="The metric that breached its threshold, if any.")
    value: float | None = strawberry.field(description="The value that breached, in the metric's unit.")
    threshold: float | None = strawberry.field(description="The threshold it breached, in the metric's unit.")
    message: str | None = strawberry.field(description="Human-readable summary.")
    raised_at: dt.datetime = strawberry.field(description="When it was raised (UTC).")
    acknowledged_at: dt.datetime | None = strawberry.field(description="When it was acknowledged (UTC).")
    acknowledged_by: str | None = strawberry.field(description="Who acknowledged it.")
    resolved_at: dt.datetime | None = strawberry.field(description="When it was resolved (UTC).")
    resolved_by: str | None = strawberry.field(description="Who resolved it.")
    farm_id: strawberry.Private[str]
    enclosure_id: strawberry.Private[str | None]
    history_entries: strawberry.Private[list[AlertHistoryEntry] | None]

    @classmethod
    def from_payload(cls, payload: AlertPayload) -> Alert:
        history = None
        if payload.history is not None:
            history = [
                AlertHistoryEntry(time=entry.time, status=AlertStatus(entry.status), actor=entry.actor, note=entry.note)
                for entry in payload.history
            ]
        metric = None
        if payload.metric in {member.value for member in Metric}:
            metric = Metric(payload.metric)
        return cls(
            id=strawberry.ID(payload.id),
            severity=AlertSeverity(payload.severity),
            status=AlertStatus(payload.status),
            metric=metric,
            value=payload.value,
            threshold=payload.threshold,
            message=payload.message,
            raised_at=payload.raised_at,
            acknowledged_at=payload.acknowledged_at,
            acknowledged_by=payload.acknowledged_by,
            resolved_at=payload.resolved_at,
            resolved_by=payload.resolved_by,
            farm_id=payload.farm_id,
            enclosure_id=payload.enclosure_id,
            history_entries=history,
        )

    @strawberry.field(
        description="The farm the alert belongs to.",
        extensions=[requires_scopes("farms:read")],
    )
    async def farm(self, info: GatewayInfo) -> Annotated[Farm, strawberry.lazy("resolvers.types.farms")] | None:
        from resolvers.types.farms import Farm

        return Farm.from_payload(await info.context.loaders.farm.load(self.farm_id))

    @strawberry.field(
        description="The enclosure the alert is about, if it is about one.",
        extensions=[requires_scopes("farms:read")],
    )
    async def enclosure(
        self, info: GatewayInfo
    ) -> Annotated[Enclosure, strawberry.lazy("resolvers.types.farms")] | None:
        from resolvers.types.farms import Enclosure

        if self.enclosure_id is None:
            return None
        return Enclosure.from_payload(await info.context.loaders.enclosure.load(self.enclosure_id))

    @strawberry.field(description="Every status change, oldest first (fetched from Alerting on demand).")
    async def history(self, info: GatewayInfo) -> list[AlertHistoryEntry] | None:
        if self.history_entries is not None:
            return self.history_entries
        detail = Alert.from_payload(await info.context.connectors.alerting.alert(str(self.id)))
        return detail.history_entries or []

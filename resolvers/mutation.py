"""The root Mutation type: changes dashboards make through the subsystems."""

from __future__ import annotations

from typing import Annotated

import strawberry

from common.errors import NotFoundError
from resolvers.context import GatewayInfo
from resolvers.permissions import requires_scopes, visible_farm_ids
from resolvers.subscription import publish_alert_change
from resolvers.types.alerts import Alert
from subscriptions.events import ALERT_ACKNOWLEDGED, ALERT_RESOLVED

Note = Annotated[str | None, strawberry.argument(description="Note stored with the change in the alert's history.")]
Actor = Annotated[str, strawberry.argument(description="Who makes the change, as shown in the alert's history.")]


async def _check_alert_visible(info: GatewayInfo, alert_id: str) -> None:
    """Raise NotFoundError for an alert of a farm the caller may not see, as for a missing one."""
    visible = await visible_farm_ids(info)
    if visible is None:
        return
    try:
        alert = await info.context.connectors.alerting.alert(alert_id)
        farm_id: str | None = alert.farm_id
    except NotFoundError:
        farm_id = None
    # One message for both cases, so a tenant cannot tell another tenant's alert from a missing one.
    if farm_id is None or farm_id not in visible:
        raise NotFoundError(f"alert '{alert_id}' not found", id=alert_id)


@strawberry.type(description="Changes made through the gateway.")
class Mutation:
    @strawberry.mutation(
        description="Acknowledge an alert: someone is handling it. Acknowledging twice is a no-op.",
        extensions=[requires_scopes("alerts:write")],
    )
    async def acknowledge_alert(
        self, info: GatewayInfo, id: strawberry.ID, actor: Actor, note: Note = None
    ) -> Alert | None:
        await _check_alert_visible(info, str(id))
        payload = await info.context.connectors.alerting.acknowledge(str(id), actor=actor, note=note)
        await publish_alert_change(info, ALERT_ACKNOWLEDGED, payload, actor=actor, note=note)
        return Alert.from_payload(payload)

    @strawberry.mutation(
        description="Resolve an alert. Resolving twice is a no-op.", extensions=[requires_scopes("alerts:write")]
    )
    async def resolve_alert(
        self, info: GatewayInfo, id: strawberry.ID, actor: Actor, note: Note = None
    ) -> Alert | None:
        await _check_alert_visible(info, str(id))
        payload = await info.context.connectors.alerting.resolve(str(id), actor=actor, note=note)
        await publish_alert_change(info, ALERT_RESOLVED, payload, actor=actor, note=note)
        return Alert.from_payload(payload)

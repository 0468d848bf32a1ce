"""The root Mutation type: changes dashboards make through the subsystems."""

from __future__ import annotations

from typing import Annotated

import strawberry

from resolvers.context import GatewayInfo
from resolvers.subscription import publish_alert_change
from resolvers.types.alerts import Alert
from subscriptions.events import ALERT_ACKNOWLEDGED, ALERT_RESOLVED

Note = Annotated[str | None, strawberry.argument(description="Note stored with the change in the alert's history.")]
Actor = Annotated[str, strawberry.argument(description="Who makes the change, as shown in the alert's history.")]


@strawberry.type(description="Changes made through the gateway.")
class Mutation:
    @strawberry.mutation(description="Acknowledge an alert: someone is handling it. Acknowledging twice is a no-op.")
    async def acknowledge_alert(
        self, info: GatewayInfo, id: strawberry.ID, actor: Actor, note: Note = None
    ) -> Alert | None:
        payload = await info.context.connectors.alerting.acknowledge(str(id), actor=actor, note=note)
        await publish_alert_change(info, ALERT_ACKNOWLEDGED, payload, actor=actor, note=note)
        return Alert.from_payload(payload)

    @strawberry.mutation(description="Resolve an alert. Resolving twice is a no-op.")
    async def resolve_alert(
        self, info: GatewayInfo, id: strawberry.ID, actor: Actor, note: Note = None
    ) -> Alert | None:
        payload = await info.context.connectors.alerting.resolve(str(id), actor=actor, note=note)
        await publish_alert_change(info, ALERT_RESOLVED, payload, actor=actor, note=note)
        return Alert.from_payload(payload)

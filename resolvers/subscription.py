"""The root Subscription type: live events over WebSocket (graphql-transport-ws and graphql-ws).

Every field takes `after`, the `position` of the last event the client received. The field then
delivers every retained event after it before the live ones, with no gap and no duplicate.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Iterable
from typing import Annotated, Any

import strawberry

from common.errors import FishWatchError, InvalidArgumentError
from resolvers.context import GatewayInfo
from resolvers.enums import SEVERITY_RANK, AlertSeverity
from resolvers.permissions import requires_scopes, restrict_farm_ids
from resolvers.types.events import AlertEvent, DeviceStatusEvent, Event, LiveReading, WorkflowEvent
from subscriptions.catalog import WORKFLOW_TERMINAL_STATES
from subscriptions.errors import EventBusUnavailableError, SubscriberTooSlowError
from subscriptions.events import (
    ALERT_PREFIX,
    DEVICE_STATUS_CHANGED,
    TELEMETRY_READING,
    WORKFLOW_PREFIX,
    WORKFLOW_RUN_PREFIX,
    CloudEvent,
)
from subscriptions.subscription import Delivery, EventSubscription

logger = logging.getLogger(__name__)

# CloudEvents source of the events the gateway raises itself.
GATEWAY_SOURCE = "/fishwatch/gateway"

# Keys of GatewayContext.extras that the WebSocket endpoint fills in.
CLOSE_CONNECTION_KEY = "close_connection"
MAX_FILTER_VALUES_KEY = "subscription_max_filter_values"
DEFAULT_MAX_FILTER_VALUES = 100

After = Annotated[
    str | None,
    strawberry.argument(description="Resume after this event `position`: retained events first, then live ones."),
]


def _bounded(info: GatewayInfo, name: str, values: Iterable[Any] | None) -> list[str]:
    chosen = [str(value) for value in values or ()]
    limit = int(info.context.extras.get(MAX_FILTER_VALUES_KEY, DEFAULT_MAX_FILTER_VALUES))
    if len(chosen) > limit:
        raise InvalidArgumentError(
            f"{name} has {len(chosen)} values; at most {limit} are allowed per subscription", argument=name
        )
    return chosen


class _Deliveries:
    """An async iterator over a bus subscription's deliveries, empty when `subscription` is None.

    `__anext__` hands out the subscription's own `next_delivery()`. An async generator here would
    add one more object per subscriber and event, live while the subscriber waits, for the young
    garbage collection to scan (see gateway/gc_policy.py).
    """

    __slots__ = ("subscription",)

    def __init__(self, subscription: EventSubscription | None) -> None:
        self.subscription = subscription

    def __aiter__(self) -> _Deliveries:
        return self

    def __anext__(self) -> Awaitable[Delivery]:
        if self.subscription is None:
            return _end()
        return self.subscription.next_delivery()


async def _end() -> Delivery:
    raise StopAsyncIteration


@contextlib.asynccontextmanager
async def _deliveries(
    info: GatewayInfo,
    *,
    types: list[str],
    farm_ids: list[str],
    enclosure_ids: list[str] = (),  # type: ignore[assignment]
    after: str | None,
) -> AsyncIterator[_Deliveries]:
    """Subscribe on the bus for one GraphQL subscription field and yield its deliveries."""
    bus = info.context.bus
    if bus is None:
        raise EventBusUnavailableError("live subscriptions need the event bus, which this gateway did not start")
    # Tenancy: a caller limited to some farms subscribes to those of them it may see, and the bus
    # filter then drops every other event, including events without a farm. With none visible,
    # the subscription ends at once.
    allowed = await restrict_farm_ids(info, farm_ids or None)
    if allowed == []:
        yield _Deliveries(None)
        return
    async with bus.subscribe(
        types=types, farm_ids=allowed or [], enclosure_ids=enclosure_ids, after=after
    ) as subscription:
        close_connection = info.context.extras.get(CLOSE_CONNECTION_KEY)
        if close_connection is not None:

            def on_overflow(error: SubscriberTooSlowError) -> None:
                close_connection(error.websocket_close_code, error.websocket_close_reason)

            subscription.on_overflow(on_overflow)
        yield _Deliveries(subscription)


@strawberry.type(description="Live events, delivered over WebSocket at /graphql.")
class Subscription:
    @strawberry.subscription(
        description="Telemetry readings of one farm, optionally narrowed to enclosures and metrics.",
        extensions=[requires_scopes("events:subscribe")],
    )
    async def telemetry(
        self,
        info: GatewayInfo,
        farm_id: strawberry.ID,
        enclosure_ids: list[strawberry.ID] | None = None,
        metrics: Annotated[
            list[str] | None, strawberry.argument(description="Metric names to keep, for example temperature.")
        ] = None,
        after: After = None,
    ) -> AsyncGenerator[LiveReading, None]:
        wanted = set(_bounded(info, "metrics", metrics)) or None
        async with _deliveries(
            info,
            types=[TELEMETRY_READING],
            farm_ids=[str(farm_id)],
            enclosure_ids=_bounded(info, "enclosureIds", enclosure_ids),
            after=after,
        ) as deliveries:
            async for delivery in deliveries:
                reading = LiveReading.from_event(delivery.position, delivery.event, wanted)
                if reading is not None:
                    yield reading

    @strawberry.subscription(
        description="Alerts raised, acknowledged and resolved, at or above a severity.",
        extensions=[requires_scopes("events:subscribe")],
    )
    async def alerts(
        self,
        info: GatewayInfo,
        farm_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only this farm; every farm when null.")
        ] = None,
        min_severity: AlertSeverity = AlertSeverity.INFO,
        after: After = None,
    ) -> AsyncGenerator[AlertEvent, None]:
        floor = SEVERITY_RANK[min_severity]
        farms = [str(farm_id)] if farm_id is not None else []
        async with _deliveries(info, types=[ALERT_PREFIX], farm_ids=farms, after=after) as deliveries:
            async for delivery in deliveries:
                alert = AlertEvent.from_event(delivery.position, delivery.event)
                if alert is not None and SEVERITY_RANK[alert.severity] >= floor:
                    yield alert

    @strawberry.subscription(
        description="Status changes of a farm's devices, optionally of some devices only.",
        extensions=[requires_scopes("events:subscribe")],
    )
    async def device_status(
        self,
        info: GatewayInfo,
        farm_id: strawberry.ID,
        device_ids: list[str] | None = None,
        after: After = None,
    ) -> AsyncGenerator[DeviceStatusEvent, None]:
        wanted = set(_bounded(info, "deviceIds", device_ids))
        farms = [str(farm_id)]
        async with _deliveries(info, types=[DEVICE_STATUS_CHANGED], farm_ids=farms, after=after) as deliveries:
            async for delivery in deliveries:
                change = DeviceStatusEvent.from_event(delivery.position, delivery.event)
                if change is not None and (not wanted or change.device_id in wanted):
                    yield change

    @strawberry.subscription(
        description="Progress of one workflow run: run and step transitions. Completes when the run "
        f"reaches a final state ({', '.join(WORKFLOW_TERMINAL_STATES)}).",
        extensions=[requires_scopes("events:subscribe")],
    )
    async def workflow_run(
        self, info: GatewayInfo, run_id: strawberry.ID, after: After = None
    ) -> AsyncGenerator[WorkflowEvent, None]:
        async with _deliveries(info, types=[WORKFLOW_PREFIX], farm_ids=[], after=after) as deliveries:
            async for delivery in deliveries:
                if WorkflowEvent.run_id_of(delivery.event) != str(run_id):
                    continue
                transition = WorkflowEvent.from_event(delivery.position, delivery.event)
                if transition is None:
                    continue
                yield transition
                if delivery.event.type.startswith(WORKFLOW_RUN_PREFIX) and transition.state in WORKFLOW_TERMINAL_STATES:
                    return

    @strawberry.subscription(
        description="Every event, optionally filtered by type (exact, or prefix ending in '.') and farm.",
        extensions=[requires_scopes("events:subscribe")],
    )
    async def events(
        self,
        info: GatewayInfo,
        types: list[str] | None = None,
        farm_ids: list[strawberry.ID] | None = None,
        after: After = None,
    ) -> AsyncGenerator[Event, None]:
        async with _deliveries(
            info,
            types=_bounded(info, "types", types),
            farm_ids=_bounded(info, "farmIds", farm_ids),
            after=after,
        ) as deliveries:
            async for delivery in deliveries:
                yield Event.from_event(delivery.position, delivery.event)


async def publish_alert_change(info: GatewayInfo, event_type: str, alert: Any, *, actor: str, note: str | None) -> None:
    """Publish an alert change the gateway made (acknowledge, resolve) on the bus.

    The change is already stored in the Alerting subsystem, so a bus failure is logged and does not
    fail the mutation. Live clients then see the change on their next query instead.
    """
    bus = info.context.bus
    if bus is None:
        return
    data = {
        "alertId": alert.id,
        "severity": alert.severity,
        "status": alert.status,
        "actor": actor,
        "note": note,
        "metric": alert.metric,
        "value": alert.value,
        "message": alert.message,
    }
    event = CloudEvent.new(
        event_type,
        GATEWAY_SOURCE,
        {key: value for key, value in data.items() if value is not None},
        subject=alert.id,
        farm_id=alert.farm_id,
        enclosure_id=alert.enclosure_id,
    )
    try:
        await bus.publish(event)
    except FishWatchError as exc:
        logger.error("publishing %s for alert %s failed: %s", event_type, alert.id, exc.message)

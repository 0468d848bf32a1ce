"""GraphQL types of live events, built from the CloudEvents the bus delivers."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Hashable
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from resolvers.enums import AlertSeverity, DeviceStatus
from subscriptions.events import ALERT_PREFIX, WORKFLOW_RUN_PREFIX, WORKFLOW_STEP_PREFIX, CloudEvent

POSITION_DESCRIPTION = "Position in the event stream; pass it as `after` to resume right after this event."


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def _number(data: dict[str, Any], key: str) -> float | None:
    value = data.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _parse_time(raw: str | None, fallback: dt.datetime) -> dt.datetime:
    if raw is None:
        return fallback
    try:
        parsed = dt.datetime.fromisoformat(raw)
    except ValueError:
        return fallback
    return parsed if parsed.tzinfo is not None else fallback


@strawberry.type(description="Any Fish Watch event, in CloudEvents terms.")
class Event:
    position: str = strawberry.field(description=POSITION_DESCRIPTION)
    id: strawberry.ID = strawberry.field(description="CloudEvents id, unique per source.")
    type: str = strawberry.field(description="CloudEvents type, for example com.fishwatch.alert.raised.")
    source: str = strawberry.field(description="CloudEvents source: what produced the event.")
    subject: str | None = strawberry.field(description="CloudEvents subject: what the event is about.")
    time: dt.datetime = strawberry.field(description="When the event happened (UTC).")
    farm_id: strawberry.ID | None = strawberry.field(description="The farm it concerns (extension `farmid`).")
    enclosure_id: strawberry.ID | None = strawberry.field(
        description="The enclosure it concerns (extension `enclosureid`)."
    )
    data: JSON | None = strawberry.field(description="The event's data; docs/events.md describes it per type.")

    @classmethod
    def from_event(cls, position: str, event: CloudEvent) -> Event:
        return cls(
            position=position,
            id=strawberry.ID(event.id),
            type=event.type,
            source=event.source,
            subject=event.subject,
            time=event.time,
            farm_id=strawberry.ID(event.farmid) if event.farmid else None,
            enclosure_id=strawberry.ID(event.enclosureid) if event.enclosureid else None,
            data=cast(JSON, event.data),
        )


@strawberry.type(description="One metric's value in a reading.")
class MetricValue:
    metric: str = strawberry.field(description="Metric name as the device sends it, for example temperature.")
    value: float = strawberry.field(description="The value, in the metric's unit.")


@strawberry.type(description="A telemetry reading from an enclosure's device, delivered live.")
class LiveReading:
    position: str = strawberry.field(description=POSITION_DESCRIPTION)
    event_id: strawberry.ID = strawberry.field(description="Id of the underlying event.")
    farm_id: strawberry.ID = strawberry.field(description="The farm.")
    enclosure_id: strawberry.ID = strawberry.field(description="The enclosure.")
    device_id: str = strawberry.field(description="The device that measured.")
    measured_at: dt.datetime = strawberry.field(description="When the device measured (UTC).")
    values: list[MetricValue] = strawberry.field(description="The metric values, filtered by the `metrics` argument.")

    @classmethod
    def from_event(cls, position: str, event: CloudEvent, metrics: set[str] | None) -> LiveReading | None:
        data = event.data or {}
        raw_metrics = data.get("metrics")
        if not isinstance(raw_metrics, dict) or event.farmid is None or event.enclosureid is None:
            return None
        values = [
            MetricValue(metric=name, value=float(value))
            for name, value in raw_metrics.items()
            if (metrics is None or name in metrics) and isinstance(value, int | float)
        ]
        if not values:
            return None
        return cls(
            position=position,
            event_id=strawberry.ID(event.id),
            farm_id=strawberry.ID(event.farmid),
            enclosure_id=strawberry.ID(event.enclosureid),
            device_id=_text(data, "deviceId") or event.subject or "",
            measured_at=_parse_time(_text(data, "measuredAt"), event.time),
            values=values,
        )


@strawberry.enum(description="What happened to an alert.")
class AlertChange(enum.Enum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@strawberry.type(description="An alert raised, acknowledged or resolved, delivered live.")
class AlertEvent:
    position: str = strawberry.field(description=POSITION_DESCRIPTION)
    event_id: strawberry.ID = strawberry.field(description="Id of the underlying event.")
    change: AlertChange = strawberry.field(description="What happened.")
    time: dt.datetime = strawberry.field(description="When it happened (UTC).")
    alert_id: strawberry.ID = strawberry.field(description="Alert id in the Alerting subsystem.")
    severity: AlertSeverity = strawberry.field(description="How urgent the alert is.")
    farm_id: strawberry.ID = strawberry.field(description="The farm.")
    enclosure_id: strawberry.ID | None = strawberry.field(description="The enclosure, if the alert is about one.")
    metric: str | None = strawberry.field(description="The metric that breached its threshold, if any.")
    value: float | None = strawberry.field(description="The value that breached, in the metric's unit.")
    message: str | None = strawberry.field(description="Human-readable summary.")
    actor: str | None = strawberry.field(description="Who acknowledged or resolved it.")
    note: str | None = strawberry.field(description="Note left with the change.")

    @classmethod
    def from_event(cls, position: str, event: CloudEvent) -> AlertEvent | None:
        data = event.data or {}
        change = event.type[len(ALERT_PREFIX) :]
        alert_id = _text(data, "alertId")
        severity = _text(data, "severity")
        if (
            change not in {member.value for member in AlertChange}
            or alert_id is None
            or severity not in {member.value for member in AlertSeverity}
            or event.farmid is None
        ):
            return None
        return cls(
            position=position,
            event_id=strawberry.ID(event.id),
            change=AlertChange(change),
            time=event.time,
            alert_id=strawberry.ID(alert_id),
            severity=AlertSeverity(severity),
            farm_id=strawberry.ID(event.farmid),
            enclosure_id=strawberry.ID(event.enclosureid) if event.enclosureid else None,
            metric=_text(data, "metric"),
            value=_number(data, "value"),
            message=_text(data, "message"),
            actor=_text(data, "actor"),
            note=_text(data, "note"),
        )


@strawberry.type(description="A device's status change, delivered live.")
class DeviceStatusEvent:
    position: str = strawberry.field(description=POSITION_DESCRIPTION)
    event_id: strawberry.ID = strawberry.field(description="Id of the underlying event.")
    time: dt.datetime = strawberry.field(description="When the status changed (UTC).")
    device_id: str = strawberry.field(description="The device.")
    farm_id: strawberry.ID = strawberry.field(description="The farm.")
    enclosure_id: strawberry.ID | None = strawberry.field(description="The enclosure, if the device sits in one.")
    status: DeviceStatus = strawberry.field(description="The new status.")
    previous_status: DeviceStatus | None = strawberry.field(description="The status before, when known.")
    reason: str | None = strawberry.field(description="Why it changed, when the device or operator gave a reason.")

    @classmethod
    def from_event(cls, position: str, event: CloudEvent) -> DeviceStatusEvent | None:
        data = event.data or {}
        statuses = {member.value for member in DeviceStatus}
        device_id = _text(data, "deviceId")
        status = _text(data, "status")
        previous = _text(data, "previousStatus")
        if device_id is None or status not in statuses or event.farmid is None:
            return None
        return cls(
            position=position,
            event_id=strawberry.ID(event.id),
            time=event.time,
            device_id=device_id,
            farm_id=strawberry.ID(event.farmid),
            enclosure_id=strawberry.ID(event.enclosureid) if event.enclosureid else None,
            status=DeviceStatus(status),
            previous_status=DeviceStatus(previous) if previous in statuses else None,
            reason=_text(data, "reason"),
        )


@strawberry.type(description="A transition of a workflow run or of one of its steps, delivered live.")
class WorkflowEvent:
    position: str = strawberry.field(description=POSITION_DESCRIPTION)
    event_id: strawberry.ID = strawberry.field(description="Id of the underlying event.")
    type: str = strawberry.field(description="CloudEvents type, com.fishwatch.workflow.run.* or .step.*.")
    time: dt.datetime = strawberry.field(description="When the transition happened (UTC).")
    run_id: strawberry.ID = strawberry.field(description="The run.")
    step_id: str | None = strawberry.field(description="The step, for step transitions.")
    state: str = strawberry.field(description="The state entered, the last segment of the type (e.g. succeeded).")
    farm_id: strawberry.ID | None = strawberry.field(description="The farm the run works for, if any.")
    data: JSON | None = strawberry.field(description="The event's full data.")

    @classmethod
    def run_id_of(cls, event: CloudEvent) -> str | None:
        data = event.data or {}
        return _text(data, "runId") or event.subject

    @classmethod
    def from_event(cls, position: str, event: CloudEvent) -> WorkflowEvent | None:
        run_id = cls.run_id_of(event)
        if run_id is None:
            return None
        is_step = event.type.startswith(WORKFLOW_STEP_PREFIX)
        prefix = WORKFLOW_STEP_PREFIX if is_step else WORKFLOW_RUN_PREFIX
        return cls(
            position=position,
            event_id=strawberry.ID(event.id),
            type=event.type,
            time=event.time,
            run_id=strawberry.ID(run_id),
            step_id=_text(event.data or {}, "stepId") if is_step else None,
            state=event.type[len(prefix) :],
            farm_id=strawberry.ID(event.farmid) if event.farmid else None,
            data=cast(JSON, event.data),
        )


# Every field of these types is computed from the event and the subscription's arguments alone,
# never from the caller, so one rendering of an event can go to every subscriber of the same
# document, operation and variables. A type whose fields read the context must stay out.
SHAREABLE_EVENT_TYPES = (Event, LiveReading, AlertEvent, DeviceStatusEvent, WorkflowEvent)


def render_key(payload: Any) -> Hashable | None:
    """Return the key naming the event behind a payload, or None when its rendering is not shared."""
    if isinstance(payload, SHAREABLE_EVENT_TYPES):
        return type(payload).__name__, payload.position
    return None

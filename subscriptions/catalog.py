"""Data contracts of the Fish Watch event types, checked where events enter the gateway.

The ingest paths (MQTT bridge, `POST /events`) call `check_data`; events the gateway builds
itself are constructed to match. docs/events.md describes the same contracts for people.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from subscriptions.errors import EventInvalidError
from subscriptions.events import (
    ALERT_PREFIX,
    CAMERA_OBSERVATION,
    DEVICE_STATUS_CHANGED,
    MODEL_ALIAS_MOVED,
    MODEL_VERSION_REGISTERED,
    TELEMETRY_READING,
    WORKFLOW_RUN_PREFIX,
    WORKFLOW_STEP_PREFIX,
    CloudEvent,
)

ALERT_SEVERITIES = ("info", "warning", "critical")
DEVICE_STATUSES = ("online", "offline", "degraded", "maintenance")
ALERT_TYPES = ("raised", "acknowledged", "resolved")
# Run states after which a run never changes again; a workflowRun subscription completes on them.
WORKFLOW_TERMINAL_STATES = ("succeeded", "failed", "cancelled", "timed_out")
MAX_METRICS = 64


def _fail(event: CloudEvent, field: str, problem: str) -> EventInvalidError:
    return EventInvalidError(f"data.{field} of a {event.type} event {problem}", attribute=f"data.{field}")


def _require_str(event: CloudEvent, data: dict[str, Any], field: str) -> None:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise _fail(event, field, "is missing or not a non-empty string")


def _require_choice(event: CloudEvent, data: dict[str, Any], field: str, choices: tuple[str, ...]) -> None:
    value = data.get(field)
    if value not in choices:
        raise _fail(event, field, f"is {value!r}; expected one of {', '.join(choices)}")


def metric_values(event: CloudEvent, metrics: Any) -> dict[str, float]:
    """Validate a metrics object (name to finite number); raises EventInvalidError."""
    if not isinstance(metrics, dict) or not metrics:
        raise _fail(event, "metrics", "is missing or empty; send an object of metric name to number")
    if len(metrics) > MAX_METRICS:
        raise _fail(event, "metrics", f"has {len(metrics)} entries; at most {MAX_METRICS} are accepted")
    checked: dict[str, float] = {}
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise _fail(event, f"metrics.{name}", f"is {value!r}; expected a finite number")
        checked[name] = float(value)
    return checked


def _telemetry(event: CloudEvent, data: dict[str, Any]) -> None:
    if event.enclosureid is None:
        raise EventInvalidError("attribute 'enclosureid' is required on telemetry readings", attribute="enclosureid")
    _require_str(event, data, "deviceId")
    _require_str(event, data, "measuredAt")
    metric_values(event, data.get("metrics"))


def _camera(event: CloudEvent, data: dict[str, Any]) -> None:
    _require_str(event, data, "cameraId")
    _require_str(event, data, "kind")


def _device(event: CloudEvent, data: dict[str, Any]) -> None:
    _require_str(event, data, "deviceId")
    _require_choice(event, data, "status", DEVICE_STATUSES)


def _alert(event: CloudEvent, data: dict[str, Any]) -> None:
    action = event.type[len(ALERT_PREFIX) :]
    if action not in ALERT_TYPES:
        raise EventInvalidError(
            f"event type '{event.type}' is not an alert type; use {', '.join(ALERT_PREFIX + a for a in ALERT_TYPES)}",
            attribute="type",
        )
    _require_str(event, data, "alertId")
    _require_choice(event, data, "severity", ALERT_SEVERITIES)


def _workflow_run(event: CloudEvent, data: dict[str, Any]) -> None:
    _require_str(event, data, "runId")


def _workflow_step(event: CloudEvent, data: dict[str, Any]) -> None:
    _require_str(event, data, "runId")
    _require_str(event, data, "stepId")


def _model_version(event: CloudEvent, data: dict[str, Any]) -> None:
    _require_str(event, data, "name")
    _require_str(event, data, "version")


def _model_alias(event: CloudEvent, data: dict[str, Any]) -> None:
    _require_str(event, data, "name")
    _require_str(event, data, "alias")
    _require_str(event, data, "version")


_EXACT: dict[str, Callable[[CloudEvent, dict[str, Any]], None]] = {
    TELEMETRY_READING: _telemetry,
    CAMERA_OBSERVATION: _camera,
    DEVICE_STATUS_CHANGED: _device,
    MODEL_VERSION_REGISTERED: _model_version,
    MODEL_ALIAS_MOVED: _model_alias,
}
_PREFIXES: tuple[tuple[str, Callable[[CloudEvent, dict[str, Any]], None]], ...] = (
    (ALERT_PREFIX, _alert),
    (WORKFLOW_RUN_PREFIX, _workflow_run),
    (WORKFLOW_STEP_PREFIX, _workflow_step),
)


def check_data(event: CloudEvent) -> None:
    """Check the event's `data` against its type's contract; raises EventInvalidError."""
    check = _EXACT.get(event.type)
    if check is None:
        check = next((found for prefix, found in _PREFIXES if event.type.startswith(prefix)), None)
    if check is None:
        raise EventInvalidError(
            f"event type '{event.type}' is not a known Fish Watch type; docs/events.md lists them",
            attribute="type",
        )
    if event.data is None:
        raise EventInvalidError(f"a {event.type} event needs data; docs/events.md describes it", attribute="data")
    check(event, event.data)

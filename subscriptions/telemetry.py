"""The MQTT telemetry wire format and its translation into telemetry reading CloudEvents.

Topic: "fishwatch/{farm}/{enclosure}/{device}/telemetry". Payload: a JSON object with
"timestamp" (RFC 3339 with an offset, or Unix seconds) and the metric values, either nested as
{"metrics": {"temperature": 11.2}} or flat as {"temperature": 11.2}.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

from subscriptions.errors import EventInvalidError
from subscriptions.events import TELEMETRY_READING, CloudEvent

TOPIC_ROOT = "fishwatch"
TOPIC_LEAF = "telemetry"


class TelemetryRejectedError(EventInvalidError):
    """An MQTT telemetry message cannot become an event; `reason` is a short machine-readable cause."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)
        self.reason = reason


def _timestamp(raw: Any) -> dt.datetime:
    if isinstance(raw, bool):
        raise TelemetryRejectedError(f"timestamp {raw!r} is not a time", reason="invalid_timestamp")
    if isinstance(raw, int | float):
        if not math.isfinite(raw):
            raise TelemetryRejectedError(f"timestamp {raw!r} is not a finite number", reason="invalid_timestamp")
        return dt.datetime.fromtimestamp(raw, dt.UTC)
    if isinstance(raw, str):
        try:
            parsed = dt.datetime.fromisoformat(raw)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed.astimezone(dt.UTC)
    raise TelemetryRejectedError(
        f"timestamp {raw!r} is invalid; send RFC 3339 with an offset (2026-12-01T06:00:00Z) or Unix seconds",
        reason="invalid_timestamp",
    )


def parse_topic(topic: str) -> tuple[str, str, str]:
    """Return (farm, enclosure, device) from a telemetry topic; raises TelemetryRejectedError."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT or parts[4] != TOPIC_LEAF or not all(parts[1:4]):
        raise TelemetryRejectedError(
            f"topic '{topic}' does not match fishwatch/{{farm}}/{{enclosure}}/{{device}}/telemetry",
            reason="invalid_topic",
        )
    return parts[1], parts[2], parts[3]


def telemetry_event(topic: str, payload: bytes, max_payload_bytes: int) -> CloudEvent:
    """Build the telemetry reading event for one MQTT message; raises TelemetryRejectedError."""
    farm_id, enclosure_id, device_id = parse_topic(topic)
    if len(payload) > max_payload_bytes:
        raise TelemetryRejectedError(
            f"payload of {len(payload)} bytes exceeds mqtt_max_payload_bytes ({max_payload_bytes})",
            reason="payload_too_large",
        )
    try:
        decoded = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TelemetryRejectedError(f"payload is not valid JSON: {exc}", reason="invalid_json") from None
    if not isinstance(decoded, dict):
        raise TelemetryRejectedError("payload must be a JSON object", reason="invalid_json")
    if "timestamp" not in decoded:
        raise TelemetryRejectedError("payload has no timestamp", reason="missing_timestamp")
    measured_at = _timestamp(decoded["timestamp"])
    metrics = decoded.get("metrics") if "metrics" in decoded else {k: v for k, v in decoded.items() if k != "timestamp"}
    if not isinstance(metrics, dict) or not metrics:
        raise TelemetryRejectedError("payload has no metric values", reason="missing_metrics")
    for name, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise TelemetryRejectedError(
                f"metric '{name}' is {value!r}; expected a finite number", reason="invalid_metric"
            )
    data = {
        "deviceId": device_id,
        "measuredAt": measured_at.isoformat().replace("+00:00", "Z"),
        "metrics": {name: float(value) for name, value in metrics.items()},
    }
    try:
        return CloudEvent.new(
            TELEMETRY_READING,
            f"/fishwatch/devices/{device_id}",
            data,
            subject=device_id,
            farm_id=farm_id,
            enclosure_id=enclosure_id,
        )
    except EventInvalidError as exc:
        raise TelemetryRejectedError(exc.message, reason="invalid_event") from exc

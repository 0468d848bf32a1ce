"""The CloudEvents 1.0 event model in its JSON format, and the Fish Watch event type names.

Every event on the bus is a CloudEvents 1.0 event (https://github.com/cloudevents/spec, version
1.0.2, "JSON Event Format"). The farm and enclosure an event is about travel as the extension
attributes `farmid` and `enclosureid`; the spec requires extension names to be lowercase letters
and digits only, hence no separator. docs/events.md lists every type and its `data`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from subscriptions.errors import EventInvalidError

SPEC_VERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
TYPE_NAMESPACE = "com.fishwatch."

# Water and environment readings from enclosure sensors.
TELEMETRY_READING = "com.fishwatch.telemetry.reading"
# An observation a camera pipeline made (counts, lengths, behaviour).
CAMERA_OBSERVATION = "com.fishwatch.camera.observation"
# A device went online, offline or degraded.
DEVICE_STATUS_CHANGED = "com.fishwatch.device.status.changed"
ALERT_PREFIX = "com.fishwatch.alert."
ALERT_RAISED = "com.fishwatch.alert.raised"
ALERT_ACKNOWLEDGED = "com.fishwatch.alert.acknowledged"
ALERT_RESOLVED = "com.fishwatch.alert.resolved"
# Workflow transitions: the state follows the prefix, for example "com.fishwatch.workflow.run.succeeded".
WORKFLOW_PREFIX = "com.fishwatch.workflow."
WORKFLOW_RUN_PREFIX = "com.fishwatch.workflow.run."
WORKFLOW_STEP_PREFIX = "com.fishwatch.workflow.step."
MODEL_VERSION_REGISTERED = "com.fishwatch.model.version.registered"
MODEL_ALIAS_MOVED = "com.fishwatch.model.alias.moved"

# The second segment of a type names its family; channels are per family and farm.
FAMILIES = ("telemetry", "camera", "device", "alert", "workflow", "model")
# Families whose events are always about one farm, so `farmid` is required on them.
FARM_SCOPED_FAMILIES = frozenset({"telemetry", "camera", "device", "alert"})

_TYPE_PATTERN = re.compile(r"^com\.fishwatch\.(?P<family>[a-z]+)(\.[a-z0-9_]+)+$")
_EXTENSION_NAME = re.compile(r"^[a-z0-9]+$")
_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data", "farmid", "enclosureid"}
)


def family_of(event_type: str) -> str:
    """Return the family segment of a Fish Watch event type ("alert" for "com.fishwatch.alert.raised")."""
    match = _TYPE_PATTERN.match(event_type)
    if match is None or match.group("family") not in FAMILIES:
        raise EventInvalidError(
            f"event type '{event_type}' is not a Fish Watch type; expected com.fishwatch.<family>.<name> "
            f"with a family among {', '.join(FAMILIES)}",
            attribute="type",
        )
    return match.group("family")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class CloudEvent(BaseModel):
    """One CloudEvents 1.0 event with the Fish Watch extensions `farmid` and `enclosureid`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: str = SPEC_VERSION
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=1024)
    type: str = Field(min_length=1, max_length=256)
    time: dt.datetime
    subject: str | None = Field(default=None, min_length=1, max_length=1024)
    datacontenttype: str = JSON_CONTENT_TYPE
    data: dict[str, Any] | None = None
    farmid: str | None = Field(default=None, min_length=1, max_length=128)
    enclosureid: str | None = Field(default=None, min_length=1, max_length=128)

    @field_validator("specversion")
    @classmethod
    def _spec_version_is_1_0(cls, value: str) -> str:
        if value != SPEC_VERSION:
            raise ValueError(f"'{value}' is not supported; send \"1.0\"")
        return value

    @field_validator("datacontenttype")
    @classmethod
    def _content_type_is_json(cls, value: str) -> str:
        media = value.split(";", 1)[0].strip().lower()
        if media != JSON_CONTENT_TYPE:
            raise ValueError(f"'{value}' is not supported; send {JSON_CONTENT_TYPE}")
        return JSON_CONTENT_TYPE

    @field_validator("time")
    @classmethod
    def _time_has_zone(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None:
            raise ValueError("has no UTC offset; send RFC 3339 with 'Z' or an offset")
        return value.astimezone(dt.UTC)

    @field_validator("type")
    @classmethod
    def _type_is_known_family(cls, value: str) -> str:
        family_of(value)
        return value

    @property
    def family(self) -> str:
        return family_of(self.type)

    @classmethod
    def new(
        cls,
        type: str,
        source: str,
        data: dict[str, Any] | None,
        *,
        subject: str | None = None,
        farm_id: str | None = None,
        enclosure_id: str | None = None,
    ) -> CloudEvent:
        """Create an event with a fresh UUID id and the current UTC time; raises EventInvalidError."""
        return cls.from_mapping(
            {
                "id": str(uuid.uuid4()),
                "source": source,
                "type": type,
                "time": _utc_now(),
                "subject": subject,
                "data": data,
                "farmid": farm_id,
                "enclosureid": enclosure_id,
            }
        )

    @classmethod
    def from_mapping(cls, attributes: dict[str, Any]) -> CloudEvent:
        """Validate decoded attributes; raises EventInvalidError naming the first bad attribute."""
        unknown = sorted(set(attributes) - _ATTRIBUTES)
        for name in unknown:
            if not _EXTENSION_NAME.match(name):
                raise EventInvalidError(
                    f"attribute name '{name}' is invalid: CloudEvents names are lowercase letters and digits",
                    attribute=name,
                )
        if unknown:
            raise EventInvalidError(
                f"attribute '{unknown[0]}' is not accepted; Fish Watch events carry the CloudEvents "
                "attributes plus the extensions farmid and enclosureid",
                attribute=unknown[0],
            )
        present = {key: value for key, value in attributes.items() if value is not None or key == "data"}
        try:
            event = cls(**present)
        except EventInvalidError:
            raise
        except ValidationError as exc:
            error = exc.errors()[0]
            attribute = str(error["loc"][0]) if error["loc"] else "event"
            message = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                message = "is required"
            raise EventInvalidError(f"attribute '{attribute}' {message}", attribute=attribute) from None
        if event.family in FARM_SCOPED_FAMILIES and event.farmid is None:
            raise EventInvalidError(
                f"attribute 'farmid' is required on {event.family} events; set the farm the event is about",
                attribute="farmid",
            )
        return event

    @classmethod
    def from_json(cls, raw: str | bytes) -> CloudEvent:
        """Parse one event in the CloudEvents JSON format; raises EventInvalidError."""
        try:
            decoded = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventInvalidError(f"the event is not valid JSON: {exc}", attribute="event") from None
        if not isinstance(decoded, dict):
            raise EventInvalidError(f"the event must be a JSON object, got {type(decoded).__name__}", attribute="event")
        if "data_base64" in decoded:
            raise EventInvalidError(
                "data_base64 is not accepted; send the data as a JSON object in 'data'", attribute="data_base64"
            )
        return cls.from_mapping(decoded)

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-format attributes; unset optional attributes are left out, as the spec asks."""
        encoded: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": self.datacontenttype,
        }
        for name in ("subject", "farmid", "enclosureid"):
            value = getattr(self, name)
            if value is not None:
                encoded[name] = value
        if self.data is not None:
            encoded["data"] = self.data
        return encoded

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"), default=str)

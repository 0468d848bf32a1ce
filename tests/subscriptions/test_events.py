"""The CloudEvents model: construction, JSON round trip and the errors for bad input."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from subscriptions.errors import EventInvalidError
from subscriptions.events import ALERT_RAISED, MODEL_VERSION_REGISTERED, TELEMETRY_READING, CloudEvent


def test_new_fills_id_and_time() -> None:
    event = CloudEvent.new(TELEMETRY_READING, "/devices/s1", {"metrics": {"temperature": 12.5}}, farm_id="farm-001")
    assert event.specversion == "1.0"
    assert len(event.id) == 36
    assert event.time.tzinfo == dt.UTC
    assert event.farmid == "farm-001"
    assert event.enclosureid is None


def test_json_round_trip() -> None:
    event = CloudEvent.new(
        ALERT_RAISED, "/alerting", {"alertId": "a1"}, subject="a1", farm_id="farm-001", enclosure_id="enc-01"
    )
    encoded = json.loads(event.to_json())
    assert encoded["farmid"] == "farm-001"
    assert encoded["enclosureid"] == "enc-01"
    assert encoded["time"].endswith("Z")
    assert CloudEvent.from_json(event.to_json()) == event


def test_json_leaves_out_unset_attributes() -> None:
    event = CloudEvent.new(MODEL_VERSION_REGISTERED, "/mlops", {"name": "m", "version": "3"})
    expected = {"specversion", "id", "source", "type", "time", "datacontenttype", "data"}
    assert set(json.loads(event.to_json())) == expected


VALID = {
    "specversion": "1.0",
    "id": "e1",
    "source": "/x",
    "type": ALERT_RAISED,
    "time": "2026-12-01T00:00:00Z",
    "farmid": "farm-001",
}


@pytest.mark.parametrize(
    ("change", "attribute", "fragment"),
    [
        ({"specversion": "0.3"}, "specversion", "'0.3' is not supported"),
        ({"id": None}, "id", "is required"),
        ({"type": "org.other.thing"}, "type", "is not a Fish Watch type"),
        ({"type": "com.fishwatch.weather.rain"}, "type", "is not a Fish Watch type"),
        ({"time": "2026-12-01T00:00:00"}, "time", "has no UTC offset"),
        ({"datacontenttype": "text/plain"}, "datacontenttype", "'text/plain' is not supported"),
        ({"farmid": None}, "farmid", "is required on alert events"),
        ({"farm_id": "x"}, "farm_id", "lowercase letters and digits"),
        ({"region": "x"}, "region", "is not accepted"),
        ({"data": [1, 2]}, "data", "valid dictionary"),
    ],
)
def test_from_json_rejects(change: dict[str, object], attribute: str, fragment: str) -> None:
    raw = {**VALID, **change}
    raw = {key: value for key, value in raw.items() if value is not None}
    with pytest.raises(EventInvalidError) as caught:
        CloudEvent.from_json(json.dumps(raw))
    assert caught.value.code == "EVENT_INVALID"
    assert caught.value.details["attribute"] == attribute
    assert fragment in caught.value.message


def test_from_json_rejects_non_json() -> None:
    with pytest.raises(EventInvalidError) as caught:
        CloudEvent.from_json(b"{not json")
    assert caught.value.extensions == {"code": "EVENT_INVALID", "attribute": "event"}
    assert "not valid JSON" in caught.value.message


def test_event_is_frozen() -> None:
    event = CloudEvent.from_json(json.dumps(VALID))
    with pytest.raises(ValueError, match="frozen"):
        event.id = "other"

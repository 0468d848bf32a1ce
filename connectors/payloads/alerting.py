"""Alerting payloads: alerts and their status history."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from connectors.payloads.common import Payload


class AlertHistoryEntry(Payload):
    time: dt.datetime
    status: Literal["open", "acknowledged", "resolved"]
    actor: str | None = None
    note: str | None = None


class Alert(Payload):
    id: str
    farm_id: str
    enclosure_id: str | None = None
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None
    severity: Literal["info", "warning", "critical"]
    status: Literal["open", "acknowledged", "resolved"]
    message: str | None = None
    raised_at: dt.datetime
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: str | None = None
    history: list[AlertHistoryEntry] | None = None

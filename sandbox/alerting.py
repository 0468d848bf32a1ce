"""Alerting API: alerts raised by threshold breaches, and their acknowledge and resolve steps."""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, StringConstraints

from sandbox import idempotency
from sandbox.data import SandboxData
from sandbox.http import ApiError, create_base_app, parse_body, read_json_object, to_json
from sandbox.idempotency import idempotent
from sandbox.model import ALERT_SEVERITIES, ALERT_STATUSES, METRICS, Alert, AlertEvent
from sandbox.query import Query

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
# Actor recorded for alerts created through POST /v1/alerts, which carries no actor field.
API_ACTOR = "api"


class AlertCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    farm_id: str
    enclosure_id: str
    metric: str
    value: float
    threshold: float
    severity: str
    message: Text


class AlertAction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    actor: Text
    note: Note | None = None


def alert_json(alert: Alert, *, with_history: bool) -> dict[str, Any]:
    return to_json(alert) if with_history else to_json(alert, exclude=("history",))


def newest_first(alert: Alert) -> tuple[int, int]:
    return (-int(alert.raised_at.timestamp()), -int(alert.id[4:]))


class AlertingApi:
    """Request handlers over the shared data set."""

    def __init__(self, data: SandboxData) -> None:
        self.data = data

    async def list_alerts(self, request: web.Request) -> web.Response:
        query = Query(request, ["farm_id", "enclosure_id", "id", "status", "severity"], paged=True)
        farm_ids = set(query.ids("farm_id"))
        enclosure_ids = set(query.ids("enclosure_id"))
        ids = set(query.ids("id"))
        statuses = set(query.choices("status", ALERT_STATUSES))
        severities = set(query.choices("severity", ALERT_SEVERITIES))
        matches = [
            alert
            for alert in self.data.alerts.values()
            if (not farm_ids or alert.farm_id in farm_ids)
            and (not enclosure_ids or alert.enclosure_id in enclosure_ids)
            and (not ids or alert.id in ids)
            and (not statuses or alert.status in statuses)
            and (not severities or alert.severity in severities)
        ]
        items, next_cursor = query.page().slice(matches, newest_first)
        return web.json_response(
            {"items": [alert_json(a, with_history=False) for a in items], "next_cursor": next_cursor}
        )

    def _alert(self, request: web.Request) -> Alert:
        alert_id = request.match_info["id"]
        alert = self.data.alerts.get(alert_id)
        if alert is None:
            raise ApiError.not_found("alert", alert_id)
        return alert

    async def get_alert(self, request: web.Request) -> web.Response:
        Query(request, [])
        return web.json_response(alert_json(self._alert(request), with_history=True))

    async def acknowledge(self, request: web.Request) -> web.Response:
        Query(request, [])
        alert = self._alert(request)
        action = parse_body(AlertAction, await read_json_object(request))
        if alert.status == "resolved":
            raise ApiError.conflict(f"alert '{alert.id}' is resolved and cannot be acknowledged")
        if alert.status == "open":
            now = self.data.clock.now()
            alert.status = "acknowledged"
            alert.acknowledged_at = now
            alert.acknowledged_by = action.actor
            alert.history.append(AlertEvent(now, "acknowledged", action.actor, action.note or None))
        return web.json_response(alert_json(alert, with_history=True))

    async def resolve(self, request: web.Request) -> web.Response:
        Query(request, [])
        alert = self._alert(request)
        action = parse_body(AlertAction, await read_json_object(request))
        if alert.status != "resolved":
            now = self.data.clock.now()
            alert.status = "resolved"
            alert.resolved_at = now
            alert.resolved_by = action.actor
            alert.history.append(AlertEvent(now, "resolved", action.actor, action.note or None))
        return web.json_response(alert_json(alert, with_history=True))

    async def create_alert(self, request: web.Request) -> web.Response:
        Query(request, [])
        body = parse_body(AlertCreate, await read_json_object(request))
        if body.metric not in METRICS:
            raise ApiError.invalid(f"field 'metric': '{body.metric}' is not one of: {', '.join(METRICS)}")
        if body.severity not in ALERT_SEVERITIES:
            raise ApiError.invalid(f"field 'severity': '{body.severity}' is not one of: {', '.join(ALERT_SEVERITIES)}")
        if body.farm_id not in self.data.farms:
            raise ApiError.not_found("farm", body.farm_id)
        enclosure = self.data.enclosures.get(body.enclosure_id)
        if enclosure is None:
            raise ApiError.not_found("enclosure", body.enclosure_id)
        if enclosure.farm_id != body.farm_id:
            owner = enclosure.farm_id
            raise ApiError.invalid(
                f"field 'enclosure_id': enclosure '{enclosure.id}' belongs to farm '{owner}', not '{body.farm_id}'"
            )

        number = max((int(alert_id[4:]) for alert_id in self.data.alerts), default=0) + 1
        now = self.data.clock.now()
        alert = Alert(
            id=f"alr-{number:06d}",
            farm_id=body.farm_id,
            enclosure_id=body.enclosure_id,
            metric=body.metric,
            value=body.value,
            threshold=body.threshold,
            severity=body.severity,
            status="open",
            message=body.message,
            raised_at=now,
            history=[AlertEvent(now, "open", API_ACTOR, None)],
        )
        self.data.alerts[alert.id] = alert
        return web.json_response(alert_json(alert, with_history=True), status=201)


def create_app(data: SandboxData) -> web.Application:
    """Build the Alerting app over `data`."""
    api = AlertingApi(data)
    app = create_base_app()
    idempotency.install(app)
    app.router.add_get("/v1/alerts", api.list_alerts)
    app.router.add_post("/v1/alerts", idempotent(api.create_alert))
    app.router.add_get("/v1/alerts/{id}", api.get_alert)
    app.router.add_post("/v1/alerts/{id}/acknowledge", idempotent(api.acknowledge))
    app.router.add_post("/v1/alerts/{id}/resolve", idempotent(api.resolve))
    return app

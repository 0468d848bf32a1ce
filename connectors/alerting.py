"""Alerting connector: alerts, their history, acknowledging and resolving."""

from __future__ import annotations

from collections.abc import Sequence

from connectors.base import PagedConnector, segment
from connectors.payloads.alerting import Alert
from connectors.payloads.common import Page


class AlertingConnector(PagedConnector):
    """Typed calls to the Alerting REST API (docs/api/alerting.openapi.yaml)."""

    async def alerts_page(
        self,
        *,
        limit: int,
        cursor: str | None,
        farm_ids: Sequence[str] = (),
        enclosure_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        severities: Sequence[str] = (),
    ) -> Page[Alert]:
        params = {
            "farm_id": list(farm_ids) or None,
            "enclosure_id": list(enclosure_ids) or None,
            "status": list(statuses) or None,
            "severity": list(severities) or None,
        }
        return await self.page("v1/alerts", Alert, params, limit=limit, cursor=cursor)

    async def alerts(
        self,
        *,
        farm_ids: Sequence[str] = (),
        enclosure_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
    ) -> list[Alert]:
        params = {
            "farm_id": list(farm_ids) or None,
            "enclosure_id": list(enclosure_ids) or None,
            "status": list(statuses) or None,
        }
        return await self.list_all("v1/alerts", Alert, params)

    async def alert(self, alert_id: str) -> Alert:
        result: Alert = await self.call("GET", f"v1/alerts/{segment(alert_id)}", Alert)
        return result

    async def acknowledge(self, alert_id: str, *, actor: str, note: str | None = None) -> Alert:
        # Acknowledging twice is a no-op upstream, so the call is safe to retry.
        result: Alert = await self.call(
            "POST", f"v1/alerts/{segment(alert_id)}/acknowledge", Alert, json_body={"actor": actor, "note": note},
            idempotent=True,
        )
        return result

    async def resolve(self, alert_id: str, *, actor: str, note: str | None = None) -> Alert:
        result: Alert = await self.call(
            "POST", f"v1/alerts/{segment(alert_id)}/resolve", Alert, json_body={"actor": actor, "note": note},
            idempotent=True,
        )
        return result

    async def create_alert(
        self,
        *,
        farm_id: str,
        enclosure_id: str,
        metric: str,
        value: float,
        threshold: float,
        severity: str,
        message: str,
        idempotency_key: str | None = None,
    ) -> Alert:
        """Raise an alert; with the same `idempotency_key` a repeat returns the first alert."""
        body = {
            "farm_id": farm_id,
            "enclosure_id": enclosure_id,
            "metric": metric,
            "value": value,
            "threshold": threshold,
            "severity": severity,
            "message": message,
        }
        result: Alert = await self.call("POST", "v1/alerts", Alert, json_body=body, idempotency_key=idempotency_key)
        return result

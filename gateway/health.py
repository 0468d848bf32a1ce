"""Liveness and readiness endpoints."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from common.errors import UpstreamError
from connectors.base import Connector

READINESS_TIMEOUT_S = 2.0


async def healthz(request: Request) -> JSONResponse:
    """Return 200 while the process is up and its event loop runs."""
    return JSONResponse({"status": "ok"})


async def _probe(connector: Connector) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(connector.ping(), READINESS_TIMEOUT_S)
    except UpstreamError as exc:
        return {"status": "unavailable", "code": exc.code, "error": exc.message}
    except TimeoutError:
        return {"status": "unavailable", "code": "UPSTREAM_TIMEOUT", "error": f"no answer in {READINESS_TIMEOUT_S} s"}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 1)}


async def readyz(request: Request) -> JSONResponse:
    """Report whether every subsystem passes its health check and the event bus is connected."""
    services = request.app.state.services
    connectors: list[Connector] = services.connectors.all()
    results = await asyncio.gather(*(_probe(connector) for connector in connectors))
    checks = {connector.name: result for connector, result in zip(connectors, results, strict=True)}
    ready = all(result["status"] == "ok" for result in checks.values())
    body: dict[str, Any] = {"subsystems": checks}
    if services.bus is not None:
        body["event_bus"] = await services.bus.health()
        ready = ready and body["event_bus"]["status"] == "ok"
    body["status"] = "ready" if ready else "not_ready"
    return JSONResponse(body, status_code=200 if ready else 503)

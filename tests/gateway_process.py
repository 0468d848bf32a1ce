"""Run the gateway in-process on a free loopback port, as tests and benchmarks need it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.settings import Settings, load_settings


@dataclass
class RunningGateway:
    """A gateway served by uvicorn in this process."""

    url: str
    app: Starlette
    settings: Settings

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/graphql"

    @property
    def services(self) -> Any:
        return self.app.state.services


@contextlib.asynccontextmanager
async def serve_gateway(**overrides: Any) -> AsyncIterator[RunningGateway]:
    """Serve a gateway built from `overrides` (Settings field names) and shut it down afterwards.

    Anonymous callers get every scope unless `auth_anonymous` is overridden, because most tests
    exercise the API itself; the tests under tests/auth turn it off.
    """
    overrides.setdefault("auth_anonymous", "on")
    settings = load_settings({}, host="127.0.0.1", port=0, **overrides)
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield RunningGateway(url=f"http://127.0.0.1:{port}", app=app, settings=settings)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)

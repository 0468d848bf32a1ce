"""Start the five sandbox subsystems on loopback, each on its own port like separate services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from sandbox import acquisition, alerting, core, fabric, mlflow
from sandbox.data import SandboxData, build_dataset

logger = logging.getLogger(__name__)

# Subsystems in port order: with a base port, core listens on it and each next one on +1.
SUBSYSTEMS: tuple[tuple[str, Callable[[SandboxData], web.Application]], ...] = (
    ("core", core.create_app),
    ("acquisition", acquisition.create_app),
    ("fabric", fabric.create_app),
    ("alerting", alerting.create_app),
    ("mlflow", mlflow.create_app),
)


@dataclass
class SandboxUrls:
    """Base URLs without a trailing slash; the MLflow stand-in also serves /invocations."""

    core: str
    acquisition: str
    fabric: str
    alerting: str
    mlflow: str


class Sandbox:
    """The five subsystem apps over one seeded data set.

    `start` may be called once; `close` stops every app and is safe to call twice. A closed
    sandbox cannot be restarted, because its data may have been changed by writes.
    """

    def __init__(self, host: str = "127.0.0.1", base_port: int = 0, seed: int = 7, now: datetime | None = None) -> None:
        if not 0 <= base_port <= 65535 - len(SUBSYSTEMS):
            raise ValueError(
                f"base_port {base_port} is out of range; expected 0 (free ports) or 1 to {65535 - len(SUBSYSTEMS)}"
            )
        self.host = host
        self.base_port = base_port
        self.seed = seed
        self.now = now
        self.data: SandboxData | None = None
        self._runners: list[web.AppRunner] = []
        self._urls: SandboxUrls | None = None
        self._closed = False

    @property
    def urls(self) -> SandboxUrls:
        if self._urls is None:
            raise RuntimeError("the sandbox is not running; await start() first")
        return self._urls

    async def start(self) -> SandboxUrls:
        """Build the data set and start every app; returns the base URL of each subsystem."""
        if self._closed:
            raise RuntimeError("the sandbox was closed; create a new Sandbox")
        if self._urls is not None:
            raise RuntimeError("the sandbox is already running")
        self.data = build_dataset(self.seed, self.now)
        urls: dict[str, str] = {}
        try:
            for offset, (name, create_app) in enumerate(SUBSYSTEMS):
                port = self.base_port + offset if self.base_port else 0
                urls[name] = await self._serve(create_app(self.data), port)
        except BaseException:
            await self._stop_runners()
            raise
        self._urls = SandboxUrls(**urls)
        return self._urls

    async def _serve(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        host = f"[{bound_host}]" if ":" in bound_host else bound_host
        return f"http://{host}:{bound_port}"

    async def close(self) -> None:
        """Stop every app; later calls do nothing."""
        self._closed = True
        self._urls = None
        await self._stop_runners()

    async def _stop_runners(self) -> None:
        runners, self._runners = self._runners, []
        for runner in reversed(runners):
            await runner.cleanup()


async def run_sandbox(host: str, base_port: int, seed: int) -> None:
    """Serve the sandbox until the task is cancelled, then close it."""
    sandbox = Sandbox(host=host, base_port=base_port, seed=seed)
    urls = await sandbox.start()
    try:
        for name, _ in SUBSYSTEMS:
            logger.info("sandbox %s listening on %s (seed %d)", name, getattr(urls, name), seed)
        await asyncio.Event().wait()
    finally:
        await sandbox.close()
        logger.info("sandbox stopped")

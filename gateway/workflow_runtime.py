"""Opening and closing the workflow engine, its run store and its triggers in the gateway's lifespan."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.actions import ActionRegistry, default_actions
from gateway.settings import Settings
from workflows.engine import EngineOptions, WorkflowEngine
from workflows.kinds import StepEnvironment
from workflows.loader import SHIPPED_TEMPLATES_DIR, load_folder
from workflows.store import MemoryRunStore, RunStore
from workflows.triggers import CronScheduler, EventTriggers

logger = logging.getLogger(__name__)


def templates_dir(settings: Settings) -> Path:
    return Path(settings.workflow_templates_dir) if settings.workflow_templates_dir else SHIPPED_TEMPLATES_DIR


def build_store(settings: Settings) -> RunStore:
    url = settings.redis_url
    if url:
        from workflows.redis_store import RedisRunStore

        return RedisRunStore(
            url, prefix=f"{settings.redis_key_prefix}:wf", retention_s=settings.workflow_retention_s,
            socket_timeout_s=settings.redis_socket_timeout_s,
        )
    logger.warning(
        "workflow runs are kept in this process's memory (at most %d runs) and are lost when it stops; "
        "set FISHWATCH_REDIS_URL to share them between replicas and survive restarts",
        settings.workflow_max_runs_in_memory,
    )
    return MemoryRunStore(max_runs=settings.workflow_max_runs_in_memory)


@dataclass
class WorkflowRuntime:
    """The engine with the store and triggers it needs; `close` stops them in reverse order."""

    engine: WorkflowEngine
    store: RunStore
    event_triggers: EventTriggers
    cron: CronScheduler
    closed: bool = False

    async def close(self) -> None:
        """Stop intake (triggers), then the engine (drains steps, releases leases), then the store."""
        if self.closed:
            return
        self.closed = True
        await self.cron.close()
        await self.event_triggers.close()
        await self.engine.stop()
        await self.store.close()


async def start_workflows(
    settings: Settings, connectors: Any, bus: Any, actions: ActionRegistry | None = None
) -> WorkflowRuntime:
    """Load the templates, open the run store and start the engine and its triggers."""
    registry = actions or default_actions()
    catalog = load_folder(templates_dir(settings), registry)
    store = build_store(settings)
    await store.start()
    options = EngineOptions(
        max_concurrent_steps=settings.workflow_max_concurrent_steps,
        template_max_concurrent_steps=settings.workflow_template_max_concurrent_steps,
        step_timeout_s=settings.workflow_step_timeout_s,
        lease_ttl_s=settings.workflow_lease_ttl_s,
        heartbeat_s=settings.workflow_heartbeat_s,
        retention_s=settings.workflow_retention_s,
        drain_timeout_s=settings.shutdown_timeout_s / 2,
    )
    engine = WorkflowEngine(
        store=store, catalog=catalog, env=StepEnvironment(registry, connectors, bus), options=options
    )
    runtime = WorkflowRuntime(
        engine, store, EventTriggers(engine, bus), CronScheduler(engine, settings.workflow_cron_catchup_s)
    )
    try:
        await engine.start()
        await runtime.event_triggers.start()
        await runtime.cron.start()
    except BaseException:
        await runtime.close()
        raise
    return runtime

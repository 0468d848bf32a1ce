"""Fixtures of the workflow tests: scripted test actions, template folders, engines on both stores."""

from __future__ import annotations

import asyncio
import contextlib
import textwrap
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from common.errors import UpstreamRejectedError, UpstreamUnavailableError
from connectors.actions import Action, ActionArgs, ActionRegistry
from subscriptions.bus import BusOptions, EventBus
from subscriptions.memory import MemoryEventBus
from tests.peers import redis_url_for_tests
from workflows.engine import EngineOptions, WorkflowEngine
from workflows.kinds import StepEnvironment
from workflows.loader import load_folder
from workflows.records import RunRecord, RunStatus
from workflows.store import MemoryRunStore, RunStore

WAIT_TIMEOUT_S = 10.0


@dataclass
class ActionLog:
    """What the test actions saw: one entry per call, and gates that hold `test.gate` calls."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    running: int = 0
    max_running: int = 0

    def keys(self, action: str) -> list[str]:
        return [key for name, key, _ in self.calls if name == action]

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())


class ValueArgs(ActionArgs):
    value: Any = None


class FlakyArgs(ActionArgs):
    failures: int
    value: Any = None


class FailArgs(ActionArgs):
    retryable: bool = False


class SleepArgs(ActionArgs):
    seconds: float


class GateArgs(ActionArgs):
    name: str


def build_actions(log: ActionLog) -> ActionRegistry:
    async def echo(connectors: Any, args: ValueArgs, key: str) -> Any:
        log.calls.append(("test.echo", key, args.model_dump()))
        return {"value": args.value}

    async def flaky(connectors: Any, args: FlakyArgs, key: str) -> Any:
        log.calls.append(("test.flaky", key, args.model_dump()))
        if len(log.keys("test.flaky")) <= args.failures:
            raise UpstreamUnavailableError("test subsystem answered 503", subsystem="test", status=503)
        return {"value": args.value}

    async def fail(connectors: Any, args: FailArgs, key: str) -> Any:
        log.calls.append(("test.fail", key, args.model_dump()))
        if args.retryable:
            raise UpstreamUnavailableError("test subsystem answered 503", subsystem="test", status=503)
        raise UpstreamRejectedError("test subsystem answered 422: farm name taken", subsystem="test", status=422)

    async def sleep(connectors: Any, args: SleepArgs, key: str) -> Any:
        log.calls.append(("test.sleep", key, args.model_dump()))
        log.running += 1
        log.max_running = max(log.max_running, log.running)
        try:
            await asyncio.sleep(args.seconds)
        finally:
            log.running -= 1
        return {"slept_s": args.seconds}

    async def gate(connectors: Any, args: GateArgs, key: str) -> Any:
        log.calls.append(("test.gate", key, args.model_dump()))
        await log.gate(args.name).wait()
        return {"gate": args.name}

    return ActionRegistry(
        [
            Action("test.echo", "Return the value.", ValueArgs, echo),
            Action("test.flaky", "Fail with 503 the first `failures` calls.", FlakyArgs, flaky),
            Action("test.fail", "Always fail.", FailArgs, fail),
            Action("test.sleep", "Sleep, counting concurrent calls.", SleepArgs, sleep),
            Action("test.gate", "Wait until the test opens the named gate.", GateArgs, gate),
        ]
    )


@pytest.fixture
def action_log() -> ActionLog:
    return ActionLog()


@pytest.fixture
def actions(action_log: ActionLog) -> ActionRegistry:
    return build_actions(action_log)


def write_template(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def workflow_redis_url() -> Iterator[str]:
    with redis_url_for_tests() as url:
        yield url


@pytest.fixture(params=["memory", "redis"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def store(store_kind: str, request: pytest.FixtureRequest) -> AsyncIterator[RunStore]:
    chosen: RunStore
    if store_kind == "memory":
        chosen = MemoryRunStore()
    else:
        from workflows.redis_store import RedisRunStore

        url = request.getfixturevalue("workflow_redis_url")
        chosen = RedisRunStore(url, prefix=f"fwtest-{uuid.uuid4().hex[:12]}:wf")
    await chosen.start()
    yield chosen
    await chosen.close()


@pytest.fixture
async def bus() -> AsyncIterator[EventBus]:
    memory = MemoryEventBus(BusOptions())
    await memory.start()
    yield memory
    await memory.close()


FAST = EngineOptions(lease_ttl_s=1.0, heartbeat_s=0.2, drain_timeout_s=0.5, step_timeout_s=5.0)


@contextlib.asynccontextmanager
async def running_engine(
    folder: Path,
    store: RunStore,
    bus: Any,
    actions: ActionRegistry,
    *,
    options: EngineOptions = FAST,
    replica_id: str | None = None,
    connectors: Any = None,
) -> AsyncIterator[WorkflowEngine]:
    catalog = load_folder(folder, actions)
    engine = WorkflowEngine(
        store=store, catalog=catalog, env=StepEnvironment(actions, connectors, bus), options=options,
        replica_id=replica_id,
    )
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


async def wait_for_run(
    engine: WorkflowEngine, run_id: str, statuses: set[RunStatus] | None = None, timeout_s: float = WAIT_TIMEOUT_S
) -> RunRecord:
    """Poll the store until the run reaches one of `statuses` (default: any final state)."""
    wanted = statuses or {RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED}
    deadline = time.monotonic() + timeout_s
    while True:
        run = await engine.store.get_run(run_id)
        if run is not None and run.status in wanted:
            return run
        if time.monotonic() > deadline:
            state = run.status if run is not None else "missing"
            steps = {k: str(v.status) for k, v in run.steps.items()} if run is not None else {}
            raise AssertionError(f"run {run_id} is {state} after {timeout_s} s, steps {steps}")
        await asyncio.sleep(0.01)


async def wait_for_step(
    engine: WorkflowEngine, run_id: str, step_id: str, status: str, timeout_s: float = WAIT_TIMEOUT_S
) -> RunRecord:
    deadline = time.monotonic() + timeout_s
    while True:
        run = await engine.store.get_run(run_id)
        if run is not None and str(run.steps[step_id].status) == status:
            return run
        if time.monotonic() > deadline:
            found = str(run.steps[step_id].status) if run is not None else "missing"
            raise AssertionError(f"step {step_id} of run {run_id} is {found}, not {status}, after {timeout_s} s")
        await asyncio.sleep(0.01)

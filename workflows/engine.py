"""The workflow engine of one replica: starting runs, leasing them, and the API the resolvers call.

Each replica holds leases on the runs it drives and renews them at every heartbeat. At the same
heartbeat it reads its signal inbox (approvals and cancellations made on other replicas), takes
over unfinished runs whose lease expired (their replica died), and drops finished runs past the
retention. Concurrency is bounded by one semaphore for the replica and one per template. Steps
that only wait (for an event, a duration or an approval) hold no slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jsonschema

from common.errors import (
    FishWatchError,
    InvalidArgumentError,
    WorkflowError,
    WorkflowInputError,
    WorkflowLeaseLostError,
    WorkflowRunNotFoundError,
    WorkflowStateError,
    WorkflowStoreError,
    WorkflowTemplateNotFoundError,
)
from workflows.deadlines import StepDeadlines
from workflows.driver import RunDriver
from workflows.kinds import StepEnvironment
from workflows.loader import Catalog
from workflows.model import StepKind, Template
from workflows.records import TERMINAL_STEP, RunRecord, RunStatus, StepRecord, StepStatus
from workflows.store import RunQuery, RunStore

logger = logging.getLogger(__name__)

MAX_IDEMPOTENCY_KEY_LENGTH = 255


@dataclass(frozen=True)
class EngineOptions:
    """Bounds and timings of the engine; durations in seconds."""

    max_concurrent_steps: int = 500
    template_max_concurrent_steps: int = 200
    step_timeout_s: float = 60.0
    lease_ttl_s: float = 15.0
    heartbeat_s: float = 3.0
    retention_s: float = 7 * 86400.0
    drain_timeout_s: float = 5.0
    max_queued_events: int = 100_000


def default_replica_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class WorkflowEngine:
    """Starts, drives, cancels, retries and approves workflow runs on this replica."""

    def __init__(
        self,
        *,
        store: RunStore,
        catalog: Catalog,
        env: StepEnvironment,
        options: EngineOptions | None = None,
        replica_id: str | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.env = env
        self.options = options or EngineOptions()
        self.replica_id = replica_id or default_replica_id()
        self.drivers: dict[str, RunDriver] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        # One bound method shared by every task, instead of a new one per task that lives as long as the task.
        self._task_done_callback = self._task_done
        self._maintenance: asyncio.Task[None] | None = None
        self.deadlines = StepDeadlines()
        self._global_slots = asyncio.Semaphore(self.options.max_concurrent_steps)
        self._template_slots: dict[str, asyncio.Semaphore] = {}
        self._validators: dict[str, jsonschema.protocols.Validator] = {}
        self._running = False
        self._stopped = False
        self._events: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.options.max_queued_events)
        self._publisher: asyncio.Task[None] | None = None
        self.dropped_events = 0

    # Life cycle.

    async def start(self) -> None:
        """Take over unfinished runs without a lease, then start the heartbeat."""
        if self._running:
            return
        self._running = True
        self._publisher = asyncio.get_running_loop().create_task(self._publish_events(), name="workflow-events")
        await self._claim_orphans()
        self._maintenance = asyncio.get_running_loop().create_task(self._heartbeat(), name="workflow-heartbeat")
        logger.info(
            "workflow engine started: replica %s, %s run store, %d templates, lease %.1f s, heartbeat %.1f s",
            self.replica_id, self.store.kind, len(self.catalog.templates), self.options.lease_ttl_s,
            self.options.heartbeat_s,
        )

    async def stop(self) -> None:
        """Stop starting steps, let running ones finish within the drain timeout, then release every lease.

        Safe to call twice. Runs stay unfinished in the store, so the next replica (or this one
        after a restart) takes them over; steps cancelled here run again there.
        """
        if self._stopped:
            return
        self._stopped = True
        self._running = False
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        drivers = list(self.drivers.values())
        if drivers:
            logger.info("workflow engine stopping: handing over %d runs (drain %.1f s)", len(drivers),
                        self.options.drain_timeout_s)
        await asyncio.gather(
            *(self.abandon(driver, drain_s=self.options.drain_timeout_s, release=True) for driver in drivers),
            return_exceptions=True,
        )
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._publisher is not None:
            # Publish what the last transitions queued, within the drain timeout, then stop.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._events.join(), self.options.drain_timeout_s)
            self._publisher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._publisher

    def track(self, task: asyncio.Task[Any]) -> None:
        """Own a background task: keep it referenced and log its exception when it ends."""
        self._tasks.add(task)
        task.add_done_callback(self._task_done_callback)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("workflow task %s failed", task.get_name(), exc_info=task.exception())

    async def acquire_slots(self, template: Template) -> None:
        """Take one per-template and one replica-wide concurrency slot for a step attempt.

        The caller gives both back with `release_slots`. Plain methods instead of a context manager
        spare each attempt an async generator and its wrapper, which would live as long as the step.
        """
        per_template = self._template_slots.get(template.name)
        if per_template is None:
            limit = template.max_concurrent_steps or self.options.template_max_concurrent_steps
            per_template = self._template_slots[template.name] = asyncio.Semaphore(limit)
        await per_template.acquire()
        try:
            await self._global_slots.acquire()
        except BaseException:
            per_template.release()
            raise

    def release_slots(self, template: Template) -> None:
        """Give back the slots `acquire_slots` took."""
        self._global_slots.release()
        self._template_slots[template.name].release()

    def publish(self, build: Callable[[], Any]) -> None:
        """Queue a transition event; one task publishes the queue in order, so a run's events stay ordered.

        A full queue drops the event (counted and logged), because the run store, not the bus, is the
        record of a run, and a slow bus must not stall every run.
        """
        if self.env.bus is None:
            return
        try:
            event = build()
        except FishWatchError as exc:
            self.dropped_events += 1
            logger.error("workflow event not built: %s", exc.message)
            return
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped_events += 1
            if self.dropped_events % 1000 == 1:
                logger.error("workflow event queue full (%d events): %d transition events dropped so far",
                             self._events.maxsize, self.dropped_events)

    async def _publish_events(self) -> None:
        while True:
            event = await self._events.get()
            try:
                await self.env.bus.publish(event)
            except FishWatchError as exc:
                self.dropped_events += 1
                logger.error("workflow event %s not published: %s", event.type, exc.message)
            finally:
                self._events.task_done()

    async def release(self, driver: RunDriver) -> None:
        """Forget a finished run and give its lease back."""
        self.drivers.pop(driver.run.id, None)
        try:
            await self.store.release(driver.run.id, self.replica_id)
        except FishWatchError as exc:
            logger.warning("workflow run %s: lease not released (%s); it expires by itself", driver.run.id,
                           exc.message)

    async def abandon(self, driver: RunDriver, *, drain_s: float, release: bool) -> None:
        """Stop driving a run without finishing it (lease lost, or this replica stopping)."""
        driver.closed = True
        await driver.stop_tasks(drain_s)
        self.drivers.pop(driver.run.id, None)
        if release:
            with contextlib.suppress(FishWatchError):
                await self.store.release(driver.run.id, self.replica_id)

    # Templates and input.

    def template(self, name: str) -> Template:
        template = self.catalog.get(name)
        if template is None:
            known = ", ".join(sorted(self.catalog.templates)) or "none"
            raise WorkflowTemplateNotFoundError(
                f"workflow template '{name}' is not loaded; loaded templates: {known}", template=name
            )
        return template

    def _validate_input(self, template: Template, run_input: Any) -> None:
        validator = self._validators.get(template.name)
        if validator is None:
            validator_class = jsonschema.validators.validator_for(template.input_schema)
            validator = self._validators[template.name] = validator_class(template.input_schema)
        errors = sorted(validator.iter_errors(run_input), key=lambda error: list(error.path))
        if not errors:
            return
        problems = [f"{'/'.join(str(part) for part in error.path) or '(root)'}: {error.message}" for error in errors]
        raise WorkflowInputError(
            f"input of workflow '{template.name}' does not match its schema: {'; '.join(problems[:5])}"
            + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""),
            template=template.name,
            problems=problems,
        )

    # Runs.

    def _ensure_running(self) -> None:
        if not self._running:
            raise WorkflowError("the workflow engine is not running; the gateway is starting or shutting down")

    async def start_run(
        self,
        template_name: str,
        run_input: Any,
        *,
        idempotency_key: str | None = None,
        trigger: dict[str, Any] | None = None,
    ) -> RunRecord:
        """Validate the input, store a new run and start it; the same idempotency key returns the first run."""
        self._ensure_running()
        template = self.template(template_name)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
            raise InvalidArgumentError(
                f"idempotencyKey must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters, got {len(idempotency_key)}",
                argument="idempotencyKey",
            )
        self._validate_input(template, run_input)

        now = time.time()
        run = RunRecord(
            id=f"run-{uuid.uuid4().hex}",
            template=template.name,
            version=template.version,
            input=run_input,
            status=RunStatus.RUNNING,
            trigger=trigger or {"kind": "mutation"},
            idempotency_key=idempotency_key,
            created_at=now,
            started_at=now,
            updated_at=now,
        )
        for spec in template.steps:
            run.steps[spec.id] = StepRecord(step_id=spec.id)
        for spec in template.compensation:
            run.steps[spec.id] = StepRecord(step_id=spec.id, compensation=True)
        stored, created = await self.store.create_run(run, self.replica_id, self.options.lease_ttl_s)
        if not created:
            return stored

        driver = RunDriver(self, run, template)
        self.drivers[run.id] = driver
        driver._publish_run("started")
        await self._begin(driver)
        return stored

    async def get_run(self, run_id: str) -> RunRecord:
        run = await self.store.get_run(run_id)
        if run is None:
            raise WorkflowRunNotFoundError(
                f"workflow run '{run_id}' does not exist or passed its retention", run_id=run_id
            )
        return run

    async def list_runs(self, query: RunQuery, offset: int, limit: int) -> tuple[list[RunRecord], int]:
        return await self.store.list_runs(query, offset, limit)

    async def _signal(self, run: RunRecord, signal: dict[str, Any]) -> None:
        """Hand a signal to the replica that holds the run; take the run over first if none does."""
        owner = await self.store.lease_owner(run.id)
        if owner is not None and owner != self.replica_id:
            await self.store.push_signal(run.id, signal, owner)
            return
        driver = self.drivers.get(run.id)
        if driver is None:
            driver = await self._take_over(run.id)
        if driver is None:
            await self.store.push_signal(run.id, signal, await self.store.lease_owner(run.id))
            return
        await self._apply(driver, signal)

    async def _apply(self, driver: RunDriver, signal: dict[str, Any]) -> None:
        if signal.get("kind") == "cancel":
            await driver.cancel(str(signal.get("reason") or "cancelled"))
        elif signal.get("kind") == "approve":
            await driver.approve(str(signal["step_id"]), dict(signal["decision"]))

    async def cancel_run(self, run_id: str, reason: str | None = None) -> RunRecord:
        self._ensure_running()
        run = await self.get_run(run_id)
        if run.terminal:
            raise WorkflowStateError(
                f"run {run_id} is {run.status}; only unfinished runs can be cancelled", run_id=run_id
            )
        await self._signal(run, {"kind": "cancel", "reason": reason or "cancelled by request"})
        return await self.get_run(run_id)

    async def approve_step(
        self, run_id: str, step_id: str, *, approved: bool, actor: str, comment: str | None = None
    ) -> RunRecord:
        """Record a human decision on an approval step; the run goes on (or the step fails when rejected)."""
        self._ensure_running()
        run = await self.get_run(run_id)
        template = self.template(run.template)
        record = run.steps.get(step_id)
        if record is None or record.compensation:
            raise WorkflowStateError(f"run {run_id} has no step '{step_id}'", run_id=run_id, step_id=step_id)
        if template.step(step_id).kind is not StepKind.APPROVAL:
            raise WorkflowStateError(f"step '{step_id}' of run {run_id} is not an approval step",
                                     run_id=run_id, step_id=step_id)
        if record.status is not StepStatus.WAITING or record.decision is not None:
            raise WorkflowStateError(
                f"step '{step_id}' of run {run_id} is {record.status}, not waiting for approval",
                run_id=run_id, step_id=step_id,
            )
        decision = {"approved": approved, "actor": actor, "comment": comment, "at": time.time()}
        await self._signal(run, {"kind": "approve", "step_id": step_id, "decision": decision})
        return await self.get_run(run_id)

    async def retry_run(self, run_id: str) -> RunRecord:
        """Run a failed run again from its failed and skipped steps; succeeded steps keep their output."""
        self._ensure_running()
        run = await self.get_run(run_id)
        if run.status is not RunStatus.FAILED:
            raise WorkflowStateError(f"run {run_id} is {run.status}; only failed runs can be retried", run_id=run_id)
        template = self.template(run.template)
        if template.version != run.version:
            raise WorkflowStateError(
                f"run {run_id} started with {run.template} version {run.version}, but version {template.version} is "
                "loaded; start a new run instead",
                run_id=run_id,
            )
        if not await self.store.claim(run_id, self.replica_id, self.options.lease_ttl_s):
            raise WorkflowStateError(f"run {run_id} is being changed by another replica; try again", run_id=run_id)

        reset = []
        for record in run.steps.values():
            if record.compensation or record.status is not StepStatus.SUCCEEDED:
                reset.append(
                    StepRecord(step_id=record.step_id, compensation=record.compensation, attempt_log=record.attempt_log)
                )
        for record in reset:
            run.steps[record.step_id] = record
        run.status = RunStatus.RUNNING
        run.generation += 1
        run.error = None
        run.finished_at = None
        run.updated_at = time.time()

        try:
            await self.store.write(run.id, self.replica_id, header=run, steps=reset)
        except WorkflowLeaseLostError as exc:
            raise WorkflowStateError(f"run {run_id} was taken by another replica; try again", run_id=run_id) from exc
        driver = RunDriver(self, run, template)
        self.drivers[run.id] = driver
        driver._publish_run("retried")
        logger.info("workflow run %s (%s) retried: generation %d, %d steps to run again", run.id, run.template,
                    run.generation, len(reset))
        await self._begin(driver)
        return await self.get_run(run_id)

    async def _begin(self, driver: RunDriver) -> None:
        """Start a driver; when the store fails on the way, the run is left to whoever leases it next."""
        try:
            await driver.begin()
        except (WorkflowLeaseLostError, WorkflowStoreError) as exc:
            await driver.give_up(exc)

    # Heartbeat: leases, signals, takeovers, retention.

    async def _heartbeat(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(self.options.heartbeat_s)
            beats += 1
            for name, job in (("renew leases", self._renew), ("read signals", self._read_inbox),
                              ("take over runs", self._claim_orphans)):
                try:
                    await job()
                except FishWatchError as exc:
                    logger.error("workflow heartbeat could not %s: %s", name, exc.message)
                if self._stopped:
                    # stop() cancelled this task, but a store call can end in a store error instead of
                    # CancelledError (seen once with the Redis store). Looping on would hang stop().
                    return
            if beats % 20 == 1:
                try:
                    purged = await self.store.purge_finished(time.time() - self.options.retention_s)
                    if purged:
                        logger.info("workflow retention: deleted %d runs finished over %.0f s ago", purged,
                                    self.options.retention_s)
                except FishWatchError as exc:
                    logger.error("workflow retention sweep failed: %s", exc.message)

    async def _renew(self) -> None:
        lost = await self.store.renew(list(self.drivers), self.replica_id, self.options.lease_ttl_s)
        for run_id in lost:
            driver = self.drivers.get(run_id)
            if driver is not None:
                logger.warning("workflow run %s: lease lost to another replica; stopping here", run_id)
                await self.abandon(driver, drain_s=0.0, release=False)

    async def _read_inbox(self) -> None:
        for run_id in dict.fromkeys(await self.store.pop_inbox(self.replica_id)):
            driver = self.drivers.get(run_id)
            signals = await self.store.pop_signals(run_id)
            for signal in signals:
                if driver is None:
                    # This replica lost the run, so put the signal back on the run for its current owner.
                    await self.store.push_signal(run_id, signal, await self.store.lease_owner(run_id))
                    continue
                try:
                    await self._apply(driver, signal)
                except WorkflowStateError as exc:
                    logger.warning("workflow run %s: signal %s ignored: %s", run_id, signal.get("kind"),
                                   exc.message)

    async def _claim_orphans(self) -> None:
        for run_id in await self.store.active_run_ids():
            if run_id in self.drivers or not self._running:
                continue
            if await self.store.lease_owner(run_id) is not None:
                continue
            await self._take_over(run_id)

    async def _take_over(self, run_id: str) -> RunDriver | None:
        """Claim a run without a lease and resume it from the store; return its driver, or None."""
        if not await self.store.claim(run_id, self.replica_id, self.options.lease_ttl_s):
            return None
        run = await self.store.get_run(run_id)
        if run is None or run.terminal:
            await self.store.release(run_id, self.replica_id)
            return None
        template = self.catalog.get(run.template)
        if template is None or template.version != run.version:
            logger.error("workflow run %s needs template %s version %d, which this replica has not loaded; "
                         "leaving it to another replica", run_id, run.template, run.version)
            await self.store.release(run_id, self.replica_id)
            return None
        driver = RunDriver(self, run, template)
        self.drivers[run_id] = driver
        in_flight = [record.step_id for record in run.steps.values() if record.status not in TERMINAL_STEP
                     and record.status is not StepStatus.PENDING]
        logger.info("workflow run %s (%s) taken over by %s; resuming steps: %s", run_id, run.template,
                    self.replica_id, ", ".join(in_flight) or "none in flight")
        for signal in await self.store.pop_signals(run_id):
            try:
                await self._apply(driver, signal)
            except WorkflowStateError as exc:
                logger.warning("workflow run %s: signal %s ignored: %s", run_id, signal.get("kind"), exc.message)
        if not driver.closed:
            await self._begin(driver)
        return driver

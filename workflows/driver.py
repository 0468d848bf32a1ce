"""Scheduling of one run on the replica that holds its lease.

A step starts as soon as every dependency is finished and none failed; independent steps run as
parallel tasks. A step that fails for good skips the steps that depend on it, the rest of the run
goes on, and once nothing can start the run fails and its compensation steps run. Every change is
written to the run store before the driver acts on it, so the replica that takes the run over
after a crash resumes from the store. There, finished steps stay finished, and steps that were
in flight start a new attempt with the same idempotency key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

from common.errors import (
    FishWatchError,
    WorkflowError,
    WorkflowLeaseLostError,
    WorkflowStateError,
    WorkflowStepTimeoutError,
    WorkflowStoreError,
)
from workflows import events, kinds
from workflows.model import WAITING_KINDS, StepKind, StepSpec, Template
from workflows.records import TERMINAL_STEP, RunRecord, RunStatus, StepRecord, StepStatus

if TYPE_CHECKING:
    from workflows.engine import WorkflowEngine

logger = logging.getLogger(__name__)

_BLOCKING_DEPENDENCY = frozenset({StepStatus.FAILED, StepStatus.CANCELLED})


def _uncancel() -> int:
    task = asyncio.current_task()
    assert task is not None
    return task.uncancel()


def error_record(exc: FishWatchError) -> dict[str, Any]:
    return {"code": exc.code, "message": exc.message, "retryable": exc.retryable}


class RunDriver:
    """Runs one leased run: starts ready steps, retries attempts, finishes or compensates the run."""

    def __init__(self, engine: WorkflowEngine, run: RunRecord, template: Template) -> None:
        self.engine = engine
        self.run = run
        self.template = template
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.closed = False  # set when the run finished, was cancelled, or this replica lost or gave up its lease
        self._lock = asyncio.Lock()
        self._decisions: dict[str, asyncio.Future[dict[str, Any]]] = {}

    # Writing and publishing.

    async def _write(self, *, header: bool = False, steps: list[StepRecord] | None = None) -> None:
        self.run.updated_at = time.time()
        await self.engine.store.write(
            self.run.id, self.engine.replica_id, header=self.run if header else None, steps=steps
        )

    def _publish_run(self, state: str) -> None:
        self.engine.publish(lambda: events.run_event(self.run, state))

    def _publish_step(self, record: StepRecord, state: str) -> None:
        self.engine.publish(lambda: events.step_event(self.run, record, state))

    # Scope of expressions.

    def scope(self) -> dict[str, Any]:
        steps = {
            step_id: {"output": record.output, "status": str(record.status)}
            for step_id, record in self.run.steps.items()
            if record.status in TERMINAL_STEP
        }
        return {
            "input": self.run.input,
            "steps": steps,
            "run": {"id": self.run.id, "template": self.run.template, "generation": self.run.generation},
            "event": self.run.trigger.get("event"),
        }

    # Life cycle.

    async def begin(self) -> None:
        """Resume in-flight steps from the stored state, then start every ready step."""
        for record in self.run.steps.values():
            if record.status in (StepStatus.RUNNING, StepStatus.WAITING, StepStatus.RETRYING):
                self._launch(self.template.step(record.step_id))
        await self.advance()

    def _launch(self, spec: StepSpec) -> None:
        record = self.run.steps[spec.id]
        if record.ready_at is None or record.status is StepStatus.PENDING:
            record.ready_at = time.time()
        task = asyncio.get_running_loop().create_task(self._step_task(spec), name=f"workflow-step-{spec.id}")
        self.tasks[spec.id] = task
        self.engine.track(task)

    async def advance(self) -> None:
        """Start every step whose dependencies allow it; finish the run when nothing is left to start."""
        async with self._lock:
            while not self.closed and not self.run.terminal:
                compensating = self.run.status is RunStatus.COMPENSATING
                specs = self.template.compensation if compensating else self.template.steps
                skipped, ready = self._plan(specs, compensating)
                if skipped:
                    await self._write(steps=skipped)
                    for record in skipped:
                        self._publish_step(record, "skipped")
                for spec in ready:
                    self._launch(spec)
                if self.tasks or any(self.run.steps[spec.id].status not in TERMINAL_STEP for spec in specs):
                    return
                if compensating:
                    await self._finish(RunStatus.FAILED)
                    return
                failed = [
                    self.run.steps[spec.id] for spec in specs if self.run.steps[spec.id].status is StepStatus.FAILED
                ]
                if not failed:
                    await self._skip_unused_compensation()
                    await self._finish(RunStatus.SUCCEEDED)
                    return
                if self.run.error is None:
                    first = min(failed, key=lambda record: record.finished_at or 0)
                    self.run.error = {"step_id": first.step_id, **(first.error or {})}
                if not self.template.compensation:
                    await self._finish(RunStatus.FAILED)
                    return
                self.run.status = RunStatus.COMPENSATING
                await self._write(header=True)
                self._publish_run("compensating")
                logger.info(
                    "workflow run %s (%s): compensating after step %s failed",
                    self.run.id,
                    self.run.template,
                    self.run.error.get("step_id"),
                )

    def _excluded(self) -> dict[str, str]:
        """Map each step on a branch its condition did not take to the reason it is skipped."""
        excluded: dict[str, str] = {}
        for spec in self.template.steps:
            if spec.kind is not StepKind.CONDITION:
                continue
            record = self.run.steps[spec.id]
            if record.status is not StepStatus.SUCCEEDED or not isinstance(record.output, dict):
                continue
            taken = record.output.get("result")
            for step_id in spec.else_steps if taken else spec.then_steps:
                excluded[step_id] = f"condition {spec.id} chose {'then' if taken else 'else'}"
        return excluded

    def _plan(self, specs: tuple[StepSpec, ...], compensating: bool) -> tuple[list[StepRecord], list[StepSpec]]:
        """Decide which pending steps to skip and which to start, skipping transitively in one pass."""
        excluded = self._excluded()
        skipped: list[StepRecord] = []
        ready: list[StepSpec] = []
        changed = True
        now = time.time()
        while changed:
            changed = False
            for spec in specs:
                record = self.run.steps[spec.id]
                if record.status is not StepStatus.PENDING or spec.id in self.tasks or spec in ready:
                    continue
                dependencies = [self.run.steps[step_id] for step_id in spec.depends_on]
                if any(dependency.status not in TERMINAL_STEP for dependency in dependencies):
                    continue
                reason = None
                blocked = not compensating and any(
                    dependency.status in _BLOCKING_DEPENDENCY or dependency.blocked for dependency in dependencies
                )
                if blocked:
                    reason = "a dependency failed or was cancelled"
                elif spec.id in excluded:
                    reason = excluded[spec.id]
                elif dependencies and all(dependency.status is StepStatus.SKIPPED for dependency in dependencies):
                    reason = "every dependency was skipped"
                elif (
                    compensating
                    and spec.compensates is not None
                    and (self.run.steps[spec.compensates].status is not StepStatus.SUCCEEDED)
                ):
                    reason = f"step {spec.compensates} did not succeed, so there is nothing to compensate"
                if reason is None:
                    ready.append(spec)
                    continue
                record.status = StepStatus.SKIPPED
                record.skip_reason = reason
                record.blocked = blocked
                record.finished_at = now
                skipped.append(record)
                changed = True
        return skipped, ready

    async def _skip_unused_compensation(self) -> None:
        """Mark compensation steps skipped when the run succeeded, so no step reads as unfinished."""
        unused = [
            record for record in self.run.steps.values() if record.compensation and record.status is StepStatus.PENDING
        ]
        if not unused:
            return
        now = time.time()
        for record in unused:
            record.status = StepStatus.SKIPPED
            record.skip_reason = "the run succeeded, so there is nothing to compensate"
            record.finished_at = now
        await self._write(steps=unused)
        for record in unused:
            self._publish_step(record, "skipped")

    async def _finish(self, status: RunStatus) -> None:
        self.run.status = status
        self.run.finished_at = time.time()
        await self._write(header=True)
        self._publish_run(str(status))
        self.closed = True
        duration_ms = (self.run.finished_at - (self.run.started_at or self.run.created_at)) * 1000
        logger.info(
            "workflow run %s (%s) %s duration_ms=%.1f%s",
            self.run.id,
            self.run.template,
            status,
            duration_ms,
            f" error={self.run.error.get('code')}" if self.run.error else "",
        )
        await self.engine.release(self)

    # Steps.

    async def _step_task(self, spec: StepSpec) -> None:
        try:
            await self._attempts(spec, self.run.steps[spec.id])
            if self.tasks.get(spec.id) is asyncio.current_task():
                del self.tasks[spec.id]
            await self.advance()
        except (WorkflowLeaseLostError, WorkflowStoreError) as exc:
            await self.give_up(exc)
        finally:
            if self.tasks.get(spec.id) is asyncio.current_task():
                del self.tasks[spec.id]

    async def give_up(self, exc: FishWatchError) -> None:
        """Stop driving the run after a lost lease or a failed store write, keeping the lease unreleased.

        The run stays as stored. Once its lease expires, a replica (this one included) takes it over
        and resumes it from the store.
        """
        logger.error("workflow run %s: stopping on this replica because %s; it resumes once its lease expires",
                     self.run.id, exc.message)
        await self.engine.abandon(self, drain_s=0.0, release=False)

    async def _attempts(self, spec: StepSpec, record: StepRecord) -> None:
        policy = spec.retry
        waiting_kind = spec.kind in WAITING_KINDS
        resume_wait = waiting_kind and record.status is StepStatus.WAITING
        if record.status is StepStatus.RUNNING:
            # The replica running this attempt stopped; it counts as lost, and the step runs again.
            lost = {
                "code": WorkflowLeaseLostError.code,
                "message": "the replica running this attempt stopped",
                "retryable": True,
            }
            record.add_attempt(record.started_at, time.time(), lost)

        while True:
            if record.status is StepStatus.RETRYING and record.next_attempt_at is not None:
                await asyncio.sleep(max(0.0, record.next_attempt_at - time.time()))

            # Steps that only wait (for an event, a duration or an approval) hold no concurrency slot.
            hold_slots = not waiting_kind
            if hold_slots:
                await self.engine.acquire_slots(self.template)
            try:
                output, error = await self._attempt(spec, record, resume_wait)
            finally:
                if hold_slots:
                    self.engine.release_slots(self.template)
            resume_wait = False

            finished_at = time.time()
            record.add_attempt(record.started_at, finished_at, error_record(error) if error is not None else None)
            if error is None:
                record.status = StepStatus.SUCCEEDED
                record.output = output
                record.error = None
                record.finished_at = finished_at
                await self._write(steps=[record])
                self._publish_step(record, "succeeded")
                self._log_step(spec, record, "succeeded")
                return
            record.error = error_record(error)
            if policy.should_retry(error.code, error.retryable, record.attempts):
                record.status = StepStatus.RETRYING
                record.next_attempt_at = finished_at + policy.delay_s(record.attempts)
                await self._write(steps=[record])
                self._publish_step(record, "retrying")
                self._log_step(spec, record, "retrying")
                continue
            record.status = StepStatus.FAILED
            record.finished_at = finished_at
            await self._write(steps=[record])
            self._publish_step(record, "failed")
            self._log_step(spec, record, "failed")
            return

    async def _start_attempt(self, spec: StepSpec, record: StepRecord, scope: dict[str, Any]) -> FishWatchError | None:
        """Record a new attempt as started (stored before it runs); return an error found while preparing it."""
        now = time.time()
        record.attempts += 1
        record.status = StepStatus.WAITING if spec.kind in WAITING_KINDS else StepStatus.RUNNING
        record.started_at = now
        record.next_attempt_at = None
        record.error = None
        error: FishWatchError | None = None
        try:
            record.inputs = kinds.resolve_inputs(spec, scope)
            if spec.kind is StepKind.SLEEP:
                duration = kinds.resolve_seconds(spec.duration_s, scope, "duration_s") or 0.0
                record.wait_until = now + duration
            elif spec.kind in (StepKind.WAIT_EVENT, StepKind.APPROVAL):
                timeout = kinds.resolve_seconds(spec.timeout_s, scope, "timeout_s")
                record.wait_until = now + timeout if timeout is not None else None
            if spec.kind is StepKind.WAIT_EVENT and self.engine.env.bus is not None:
                record.cursor = await self.engine.env.bus.head_position()
        except FishWatchError as exc:
            error = exc
        await self._write(steps=[record])
        self._publish_step(record, "waiting" if record.status is StepStatus.WAITING else "started")
        return error

    async def _attempt(
        self, spec: StepSpec, record: StepRecord, resume_wait: bool
    ) -> tuple[Any, FishWatchError | None]:
        """Start an attempt (unless it resumes a stored wait) and perform it. Return its output or its error."""
        scope = self.scope()
        if not resume_wait:
            error = await self._start_attempt(spec, record, scope)
            if error is not None:
                return None, error
        timeout_s: float | None = None
        if spec.kind not in WAITING_KINDS:
            try:
                timeout_s = (
                    kinds.resolve_seconds(spec.timeout_s, scope, "timeout_s") or self.engine.options.step_timeout_s
                )
            except FishWatchError as exc:
                return None, exc
        if spec.kind not in kinds.KINDS_USING_SCOPE:
            # The other kinds work from the record alone. Dropping the scope (a dict per finished
            # step) before the attempt's long await keeps full garbage collections from walking it.
            scope = {}

        # The engine's StepDeadlines enforce timeout_s as asyncio.timeout would, with one timer for
        # every attempt in flight instead of a timer handle per attempt.
        deadlines = self.engine.deadlines
        token = deadlines.arm(timeout_s) if timeout_s is not None else None
        expired = False
        try:
            try:
                output = await kinds.perform(self.engine.env, self.run, spec, record, scope, self.wait_for_decision)
            finally:
                expired = token is not None and deadlines.disarm(token)
                # Withdraw the cancellation the deadline requested, whatever the attempt ended with.
                pending_cancellations = _uncancel() if expired else 0
            return output, None
        except asyncio.CancelledError:
            if not expired or pending_cancellations > 0:
                raise
            return None, WorkflowStepTimeoutError(
                f"step {spec.id} attempt {record.attempts} ran past its timeout of {timeout_s} s and was cancelled"
            )
        except TimeoutError:
            # Raised inside the attempt: an approval's wait for its decision ended, or an action timed out.
            if spec.kind is StepKind.APPROVAL:
                return None, WorkflowStepTimeoutError(f"step {spec.id}: no approval arrived before its deadline")
            return None, WorkflowStepTimeoutError(
                f"step {spec.id} attempt {record.attempts} ran past its timeout of {timeout_s} s and was cancelled"
            )
        except WorkflowLeaseLostError:
            raise
        except FishWatchError as exc:
            return None, exc
        except Exception as exc:
            logger.exception("workflow run %s step %s raised an unexpected error", self.run.id, spec.id)
            return None, WorkflowError(f"step {spec.id} raised {exc.__class__.__name__}: {exc}")

    async def wait_for_decision(self, step_id: str, deadline: float | None) -> dict[str, Any]:
        """Wait until an approval step gets its decision (see `approve`), at most until `deadline`."""
        future = self._decisions.setdefault(step_id, asyncio.get_running_loop().create_future())
        try:
            remaining = None if deadline is None else max(0.0, deadline - time.time())
            async with asyncio.timeout(remaining):
                return await asyncio.shield(future)
        finally:
            if future.done():
                self._decisions.pop(step_id, None)

    def _log_step(self, spec: StepSpec, record: StepRecord, outcome: str) -> None:
        duration_ms = ((record.finished_at or time.time()) - (record.started_at or time.time())) * 1000
        logger.info(
            "workflow step %s/%s kind=%s attempt=%d %s duration_ms=%.1f%s",
            self.run.id,
            spec.id,
            spec.kind.value,
            record.attempts,
            outcome,
            duration_ms,
            f" error={record.error['code']}: {record.error['message']}" if record.error else "",
        )

    # Signals.

    async def approve(self, step_id: str, decision: dict[str, Any]) -> None:
        record = self.run.steps.get(step_id)
        spec = self.template.step(step_id) if record is not None else None
        if record is None or spec is None or spec.kind is not StepKind.APPROVAL:
            raise WorkflowStateError(
                f"step '{step_id}' of run {self.run.id} is not an approval step", run_id=self.run.id, step_id=step_id
            )
        if record.status is not StepStatus.WAITING or record.decision is not None:
            raise WorkflowStateError(
                f"step '{step_id}' of run {self.run.id} is {record.status}, not waiting for approval",
                run_id=self.run.id,
                step_id=step_id,
            )
        record.decision = decision
        await self._write(steps=[record])
        future = self._decisions.setdefault(step_id, asyncio.get_running_loop().create_future())
        if not future.done():
            future.set_result(decision)

    async def cancel(self, reason: str) -> None:
        """Cancel the run: stop its tasks, mark unfinished steps cancelled, store and announce it."""
        async with self._lock:
            if self.run.terminal or self.closed:
                raise WorkflowStateError(
                    f"run {self.run.id} is {self.run.status}; only unfinished runs can be cancelled", run_id=self.run.id
                )
            self.closed = True
            await self.stop_tasks()
            now = time.time()
            changed = []
            for record in self.run.steps.values():
                if record.status not in TERMINAL_STEP:
                    record.status = StepStatus.CANCELLED
                    record.finished_at = now
                    changed.append(record)
            self.run.status = RunStatus.CANCELLED
            self.run.finished_at = now
            self.run.error = {"code": "WORKFLOW_CANCELLED", "message": reason, "retryable": False}
            try:
                await self._write(header=True, steps=changed)
            except (WorkflowLeaseLostError, WorkflowStoreError) as exc:
                await self.give_up(exc)
                raise
            for record in changed:
                self._publish_step(record, "cancelled")
            self._publish_run("cancelled")
            logger.info("workflow run %s (%s) cancelled: %s", self.run.id, self.run.template, reason)
        await self.engine.release(self)

    async def stop_tasks(self, drain_s: float = 0.0) -> None:
        """Cancel the step tasks (after waiting up to `drain_s` for them) and wait for them to end."""
        current = asyncio.current_task()
        tasks = [task for task in self.tasks.values() if task is not current]
        if drain_s > 0 and tasks:
            await asyncio.wait(tasks, timeout=drain_s)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.tasks.clear()

"""The scheduler on both run stores: ordering, retries, timeouts, failures, compensation, signals."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from common.errors import (
    InvalidArgumentError,
    WorkflowInputError,
    WorkflowRunNotFoundError,
    WorkflowStateError,
    WorkflowStoreError,
    WorkflowTemplateNotFoundError,
)
from connectors.actions import ActionRegistry
from tests.workflows.conftest import FAST, ActionLog, running_engine, wait_for_run, wait_for_step, write_template
from workflows.engine import WorkflowEngine
from workflows.kinds import StepEnvironment
from workflows.loader import load_folder
from workflows.records import RunStatus, StepStatus
from workflows.store import MemoryRunStore, RunQuery, RunStore

DIAMOND = """
name: diamond
version: 1
input_schema:
  type: object
  required: [seconds]
  properties: {seconds: {type: number}}
steps:
  - id: start
    kind: action
    action: test.echo
    inputs: {value: go}
  - id: left
    kind: action
    action: test.sleep
    depends_on: [start]
    inputs: {seconds: "${input.seconds}"}
  - id: right
    kind: action
    action: test.sleep
    depends_on: [start]
    inputs: {seconds: "${input.seconds}"}
  - id: join
    kind: action
    action: test.echo
    depends_on: [left, right]
    inputs: {value: "${steps.left.output.slept_s}"}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_template(tmp_path, "diamond", DIAMOND)
    return tmp_path


async def test_independent_steps_run_in_parallel(folder: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                                 action_log: ActionLog) -> None:
    async with running_engine(folder, store, bus, actions) as engine:
        run = await engine.start_run("diamond", {"seconds": 0.3})
        done = await wait_for_run(engine, run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert action_log.max_running == 2
    left, right, join = done.steps["left"], done.steps["right"], done.steps["join"]
    assert join.output == {"value": 0.3}
    assert join.started_at is not None
    assert left.finished_at is not None
    assert right.finished_at is not None
    assert join.started_at >= max(left.finished_at, right.finished_at)
    assert done.steps["start"].attempts == 1


async def test_start_rejects_bad_input(folder: Path, store: RunStore, bus: Any, actions: ActionRegistry) -> None:
    async with running_engine(folder, store, bus, actions) as engine:
        with pytest.raises(WorkflowInputError) as raised:
            await engine.start_run("diamond", {"seconds": "soon", "extra": 1})
        with pytest.raises(WorkflowTemplateNotFoundError) as missing:
            await engine.start_run("no-such-template", {})
        with pytest.raises(InvalidArgumentError):
            await engine.start_run("diamond", {"seconds": 1}, idempotency_key="k" * 256)
    assert raised.value.code == "WORKFLOW_INPUT_INVALID"
    assert "seconds: 'soon' is not of type 'number'" in raised.value.message
    assert missing.value.code == "WORKFLOW_TEMPLATE_NOT_FOUND"
    assert "loaded templates: diamond" in missing.value.message


async def test_idempotency_key_returns_first_run(folder: Path, store: RunStore, bus: Any,
                                                 actions: ActionRegistry) -> None:
    async with running_engine(folder, store, bus, actions) as engine:
        first = await engine.start_run("diamond", {"seconds": 0}, idempotency_key="nightly-2026-12-04")
        second = await engine.start_run("diamond", {"seconds": 5}, idempotency_key="nightly-2026-12-04")
        other = await engine.start_run("diamond", {"seconds": 0}, idempotency_key="nightly-2026-12-05")
        await wait_for_run(engine, other.id)
    assert second.id == first.id
    assert second.input == {"seconds": 0}
    assert other.id != first.id


RETRIES = """
name: retries
version: 1
steps:
  - id: flaky
    kind: action
    action: test.flaky
    inputs: {failures: 2, value: ok}
    retry: {max_attempts: 3, backoff_s: 0.01, backoff_max_s: 0.05}
  - id: after
    kind: action
    action: test.echo
    depends_on: [flaky]
    inputs: {value: "${steps.flaky.output.value}"}
"""


async def test_retryable_error_retried_with_same_key(tmp_path: Path, store: RunStore, bus: Any,
                                                     actions: ActionRegistry, action_log: ActionLog) -> None:
    write_template(tmp_path, "retries", RETRIES)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("retries", {})
        done = await wait_for_run(engine, run.id)
    flaky = done.steps["flaky"]
    assert done.status is RunStatus.SUCCEEDED
    assert flaky.attempts == 3
    assert [entry["error"]["code"] if entry["error"] else None for entry in flaky.history] == [
        "UPSTREAM_UNAVAILABLE", "UPSTREAM_UNAVAILABLE", None,
    ]
    keys = action_log.keys("test.flaky")
    assert len(keys) == 3
    assert len(set(keys)) == 1
    assert keys[0] == f"wf:{run.id}:0:flaky"
    assert done.steps["after"].output == {"value": "ok"}


SAGA = """
name: saga
version: 1
steps:
  - id: book
    kind: action
    action: test.echo
    inputs: {value: booked}
  - id: charge
    kind: action
    action: test.fail
    depends_on: [book]
    inputs: {retryable: false}
    retry: {max_attempts: 3, backoff_s: 0.01}
  - id: ship
    kind: action
    action: test.echo
    depends_on: [charge]
    inputs: {value: shipped}
  - id: audit
    kind: action
    action: test.sleep
    inputs: {seconds: 0.05}
  - id: report
    kind: action
    action: test.echo
    depends_on: [ship, audit]
compensation:
  - id: unbook
    kind: action
    action: test.echo
    compensates: book
    inputs: {value: "undo ${steps.book.output.value}"}
  - id: refund
    kind: action
    action: test.echo
    compensates: charge
    inputs: {value: refund}
"""


async def test_failure_skips_dependents_and_compensates(tmp_path: Path, store: RunStore, bus: Any,
                                                        actions: ActionRegistry, action_log: ActionLog) -> None:
    write_template(tmp_path, "saga", SAGA)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("saga", {})
        done = await wait_for_run(engine, run.id)
    steps = done.steps
    assert done.status is RunStatus.FAILED
    assert done.error is not None
    assert done.error["step_id"] == "charge"
    assert done.error["code"] == "UPSTREAM_REJECTED"
    # A non-retryable error is not retried, whatever max_attempts allows.
    assert steps["charge"].attempts == 1
    assert steps["charge"].status is StepStatus.FAILED
    assert steps["ship"].status is StepStatus.SKIPPED
    assert steps["ship"].skip_reason == "a dependency failed or was cancelled"
    assert steps["audit"].status is StepStatus.SUCCEEDED
    # A join is blocked by one blocked dependency even when the others succeeded.
    assert steps["report"].status is StepStatus.SKIPPED
    assert steps["report"].blocked is True
    assert steps["unbook"].status is StepStatus.SUCCEEDED
    assert steps["unbook"].output == {"value": "undo booked"}
    assert steps["refund"].status is StepStatus.SKIPPED
    assert "did not succeed" in (steps["refund"].skip_reason or "")


async def test_success_skips_compensation(tmp_path: Path, store: RunStore, bus: Any,
                                          actions: ActionRegistry, action_log: ActionLog) -> None:
    succeeding = SAGA.replace("action: test.fail\n    depends_on: [book]\n    inputs: {retryable: false}",
                              "action: test.echo\n    depends_on: [book]\n    inputs: {value: charged}")
    write_template(tmp_path, "saga", succeeding)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("saga", {})
        done = await wait_for_run(engine, run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["charge"].output == {"value": "charged"}
    for step_id in ("unbook", "refund"):
        assert done.steps[step_id].status is StepStatus.SKIPPED
        assert done.steps[step_id].skip_reason == "the run succeeded, so there is nothing to compensate"


async def test_retry_run_skips_succeeded_steps(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                               action_log: ActionLog) -> None:
    write_template(tmp_path, "retries", RETRIES.replace("max_attempts: 3", "max_attempts: 2"))
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("retries", {})
        failed = await wait_for_run(engine, run.id)
        assert failed.status is RunStatus.FAILED
        assert failed.steps["after"].status is StepStatus.SKIPPED
        with pytest.raises(WorkflowStateError):
            await engine.cancel_run(run.id)

        retried = await engine.retry_run(run.id)
        done = await wait_for_run(engine, run.id)
        with pytest.raises(WorkflowStateError) as not_failed:
            await engine.retry_run(run.id)
    assert retried.generation == 1
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["flaky"].output == {"value": "ok"}
    assert action_log.keys("test.flaky")[-1] == f"wf:{run.id}:1:flaky"
    assert len(done.steps["flaky"].history) == 3
    assert not_failed.value.code == "WORKFLOW_STATE_CONFLICT"


async def test_retry_keeps_succeeded_outputs(folder: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                             action_log: ActionLog, tmp_path: Path) -> None:
    write_template(tmp_path, "mixed", """
        name: mixed
        version: 1
        steps:
          - id: first
            kind: action
            action: test.echo
            inputs: {value: 1}
          - id: broken
            kind: action
            action: test.fail
            depends_on: [first]
    """)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("mixed", {})
        await wait_for_run(engine, run.id)
        await engine.retry_run(run.id)
        done = await wait_for_run(engine, run.id, {RunStatus.FAILED})
    assert len(action_log.keys("test.echo")) == 1
    assert len(action_log.keys("test.fail")) == 2
    assert done.steps["first"].status is StepStatus.SUCCEEDED


TIMEOUTS = """
name: timeouts
version: 1
steps:
  - id: slow
    kind: action
    action: test.sleep
    inputs: {seconds: 5}
    timeout_s: 0.1
    retry: {max_attempts: 2, backoff_s: 0.01, retry_on: [WORKFLOW_STEP_TIMEOUT]}
"""


async def test_timeout_cancels_attempt(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                       action_log: ActionLog) -> None:
    write_template(tmp_path, "timeouts", TIMEOUTS)
    started = time.monotonic()
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("timeouts", {})
        done = await wait_for_run(engine, run.id)
        limits_in_force = engine.deadlines.armed
    slow = done.steps["slow"]
    assert limits_in_force == 0
    assert time.monotonic() - started < 3
    assert done.status is RunStatus.FAILED
    assert slow.attempts == 2
    assert slow.error is not None
    assert slow.error["code"] == "WORKFLOW_STEP_TIMEOUT"
    assert "timeout of 0.1 s" in slow.error["message"]
    assert action_log.running == 0


async def test_action_missing_at_run_time(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                          action_log: ActionLog) -> None:
    write_template(tmp_path, "retries", RETRIES)
    write_template(tmp_path, "diamond", DIAMOND)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        # The template loaded with test.flaky; the registry the steps use no longer has it.
        engine.env.actions = ActionRegistry([actions.get("test.echo"), actions.get("test.sleep")])
        broken = await engine.start_run("retries", {})
        healthy = await engine.start_run("diamond", {"seconds": 0})
        failed = await wait_for_run(engine, broken.id)
        done = await wait_for_run(engine, healthy.id)
    assert failed.status is RunStatus.FAILED
    assert failed.steps["flaky"].error is not None
    assert failed.steps["flaky"].error["code"] == "WORKFLOW_ACTION_NOT_FOUND"
    assert "action 'test.flaky' is not registered" in failed.steps["flaky"].error["message"]
    assert done.status is RunStatus.SUCCEEDED


async def test_bad_argument_fails_step(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry) -> None:
    write_template(tmp_path, "typed", """
        name: typed
        version: 1
        steps:
          - id: nap
            kind: action
            action: test.sleep
            inputs: {seconds: "${input.how_long}"}
    """)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("typed", {"how_long": "a while"})
        done = await wait_for_run(engine, run.id)
    error = done.steps["nap"].error
    assert error is not None
    assert error["code"] == "WORKFLOW_INPUT_INVALID"
    assert "argument 'seconds' is invalid" in error["message"]
    assert done.steps["nap"].inputs == {"seconds": "a while"}


GATED = """
name: gated
version: 1
steps:
  - id: hold
    kind: action
    action: test.gate
    inputs: {name: "${input.gate}"}
  - id: after
    kind: action
    action: test.echo
    depends_on: [hold]
"""


async def test_cancel_stops_running_steps(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                          action_log: ActionLog) -> None:
    write_template(tmp_path, "gated", GATED)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("gated", {"gate": "never"})
        await wait_for_step(engine, run.id, "hold", "running")
        cancelled = await engine.cancel_run(run.id, "operator stopped it")
        with pytest.raises(WorkflowStateError):
            await engine.cancel_run(run.id)
        with pytest.raises(WorkflowRunNotFoundError):
            await engine.cancel_run("run-missing")
    assert cancelled.status is RunStatus.CANCELLED
    assert cancelled.error is not None
    assert cancelled.error["message"] == "operator stopped it"
    assert cancelled.steps["hold"].status is StepStatus.CANCELLED
    assert cancelled.steps["after"].status is StepStatus.CANCELLED
    assert action_log.keys("test.echo") == []


async def test_template_concurrency_limit(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                          action_log: ActionLog) -> None:
    steps = "".join(f"  - {{id: s{i}, kind: action, action: test.sleep, inputs: {{seconds: 0.05}}}}\n"
                    for i in range(9))
    write_template(tmp_path, "wide", "name: wide\nversion: 1\nmax_concurrent_steps: 3\nsteps:\n" + steps)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        runs = [await engine.start_run("wide", {}) for _ in range(2)]
        for run in runs:
            assert (await wait_for_run(engine, run.id)).status is RunStatus.SUCCEEDED
    assert len(action_log.keys("test.sleep")) == 18
    assert action_log.max_running == 3


CHOICE = """
name: choice
version: 1
steps:
  - id: check
    kind: condition
    when: "input.amount > `100`"
    then: [approve]
    else: [auto]
  - id: approve
    kind: approval
    depends_on: [check]
    inputs: {question: "Pay ${input.amount}?"}
    timeout_s: "${input.approval_timeout_s || `5`}"
  - id: auto
    kind: action
    action: test.echo
    depends_on: [check]
    inputs: {value: auto}
  - id: pay
    kind: action
    action: test.echo
    depends_on: [approve, auto]
    inputs: {value: "${input.amount}"}
  - id: notify_auto
    kind: action
    action: test.echo
    depends_on: [auto]
"""


async def test_condition_skips_branch(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry) -> None:
    write_template(tmp_path, "choice", CHOICE)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("choice", {"amount": 5})
        done = await wait_for_run(engine, run.id)
    steps = done.steps
    assert done.status is RunStatus.SUCCEEDED
    assert steps["check"].output == {"result": False, "branch": "else"}
    assert steps["approve"].status is StepStatus.SKIPPED
    assert steps["approve"].skip_reason == "condition check chose else"
    assert steps["auto"].status is StepStatus.SUCCEEDED
    assert steps["pay"].output == {"value": 5}
    assert steps["notify_auto"].status is StepStatus.SUCCEEDED


async def test_approval_approved(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry) -> None:
    write_template(tmp_path, "choice", CHOICE)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("choice", {"amount": 500})
        waiting = await wait_for_step(engine, run.id, "approve", "waiting")
        with pytest.raises(WorkflowStateError) as wrong_step:
            await engine.approve_step(run.id, "auto", approved=True, actor="ada")
        await engine.approve_step(run.id, "approve", approved=True, actor="ada", comment="ok for this supplier")
        done = await wait_for_run(engine, run.id)
    assert waiting.steps["approve"].inputs == {"question": "Pay 500?"}
    assert wrong_step.value.code == "WORKFLOW_STATE_CONFLICT"
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["approve"].output["actor"] == "ada"
    assert done.steps["approve"].output["comment"] == "ok for this supplier"
    assert done.steps["auto"].status is StepStatus.SKIPPED
    assert done.steps["notify_auto"].skip_reason == "every dependency was skipped"
    assert done.steps["pay"].status is StepStatus.SUCCEEDED


async def test_approval_rejected_or_late(tmp_path: Path, store: RunStore, bus: Any, actions: ActionRegistry) -> None:
    write_template(tmp_path, "choice", CHOICE)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        rejected = await engine.start_run("choice", {"amount": 500})
        late = await engine.start_run("choice", {"amount": 500, "approval_timeout_s": 0.1})
        await wait_for_step(engine, rejected.id, "approve", "waiting")
        await engine.approve_step(rejected.id, "approve", approved=False, actor="bob", comment="supplier unknown")
        rejected_done = await wait_for_run(engine, rejected.id)
        late_done = await wait_for_run(engine, late.id)
    error = rejected_done.steps["approve"].error
    assert rejected_done.status is RunStatus.FAILED
    assert error is not None
    assert error["code"] == "WORKFLOW_STEP_REJECTED"
    assert "rejected by bob: supplier unknown" in error["message"]
    assert late_done.status is RunStatus.FAILED
    assert late_done.steps["approve"].error is not None
    assert late_done.steps["approve"].error["code"] == "WORKFLOW_STEP_TIMEOUT"


async def test_list_runs_filters_and_pages(folder: Path, store: RunStore, bus: Any, actions: ActionRegistry,
                                           tmp_path: Path) -> None:
    write_template(tmp_path, "gated", GATED)
    async with running_engine(tmp_path, store, bus, actions) as engine:
        finished = [await engine.start_run("diamond", {"seconds": 0}) for _ in range(3)]
        for run in finished:
            await wait_for_run(engine, run.id)
        held = await engine.start_run("gated", {"gate": "held"})
        first_page, total = await engine.list_runs(RunQuery(), 0, 2)
        rest, _ = await engine.list_runs(
            RunQuery(after_key=(first_page[-1].created_at, first_page[-1].id)), 0, 10
        )
        by_template, _ = await engine.list_runs(RunQuery(template="gated"), 0, 10)
        by_status, _ = await engine.list_runs(RunQuery(statuses=frozenset({"succeeded"})), 0, 10)
        await engine.cancel_run(held.id)
    assert total == 4
    assert [run.id for run in first_page + rest] == [held.id] + [run.id for run in reversed(finished)]
    assert [run.id for run in by_template] == [held.id]
    assert {run.id for run in by_status} == {run.id for run in finished}


async def test_retention_purges_finished_runs(folder: Path, store: RunStore, bus: Any,
                                              actions: ActionRegistry) -> None:
    async with running_engine(folder, store, bus, actions) as engine:
        run = await engine.start_run("diamond", {"seconds": 0})
        await wait_for_run(engine, run.id)
        kept = await store.purge_finished(time.time() - 3600)
        purged = await store.purge_finished(time.time() + 1)
        with pytest.raises(WorkflowRunNotFoundError):
            await engine.get_run(run.id)
    assert kept == 0
    assert purged == 1


async def test_transitions_are_published(folder: Path, store: RunStore, bus: Any, actions: ActionRegistry) -> None:
    types: list[str] = []
    async with bus.subscribe(types=["com.fishwatch.workflow."]) as subscription:
        async with running_engine(folder, store, bus, actions) as engine:
            run = await engine.start_run("diamond", {"seconds": 0})
            await wait_for_run(engine, run.id)

        async def collect() -> None:
            async for event in subscription:
                assert event.subject == run.id
                types.append(event.type)
                if event.type == "com.fishwatch.workflow.run.succeeded":
                    return

        await asyncio.wait_for(collect(), 5)
    assert types[0] == "com.fishwatch.workflow.run.started"
    assert types.count("com.fishwatch.workflow.step.started") == 4
    assert types.count("com.fishwatch.workflow.step.succeeded") == 4
    assert types[-1] == "com.fishwatch.workflow.run.succeeded"


class FlakyStore(MemoryRunStore):
    """The memory store, failing every write while `failing` is set, as a Redis outage would."""

    failing = False

    async def write(self, run_id: str, owner: str, **changes: Any) -> None:
        if self.failing:
            raise WorkflowStoreError("workflow run store (Redis) failed to write run: ConnectionError")
        await super().write(run_id, owner, **changes)


async def test_store_outage_resumes_run(tmp_path: Path, bus: Any, actions: ActionRegistry,
                                        action_log: ActionLog) -> None:
    write_template(tmp_path, "gated", GATED)
    store = FlakyStore()
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("gated", {"gate": "outage"})
        await wait_for_step(engine, run.id, "hold", "running")
        store.failing = True
        action_log.gate("outage").set()
        # The success cannot be stored, so the replica lets the run go; it comes back after the lease expires.
        deadline = time.monotonic() + 5
        while run.id in engine.drivers:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        store.failing = False
        done = await wait_for_run(engine, run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["hold"].attempts == 2
    assert done.steps["hold"].history[0]["error"]["code"] == "WORKFLOW_LEASE_LOST"
    assert len(action_log.keys("test.gate")) == 2


async def test_retry_rejects_changed_template(tmp_path: Path, store: RunStore, bus: Any,
                                              actions: ActionRegistry) -> None:
    write_template(tmp_path, "retries", RETRIES.replace("max_attempts: 3", "max_attempts: 1"))
    async with running_engine(tmp_path, store, bus, actions) as engine:
        run = await engine.start_run("retries", {})
        await wait_for_run(engine, run.id)
    write_template(tmp_path, "retries", RETRIES.replace("version: 1", "version: 2"))
    async with running_engine(tmp_path, store, bus, actions) as engine:
        with pytest.raises(WorkflowStateError) as raised:
            await engine.retry_run(run.id)
    assert "started with retries version 1, but version 2 is loaded" in raised.value.message


class CancelSwallowingStore(MemoryRunStore):
    """A run store whose listing, once `slow`, turns a cancellation into a store error, as a Redis client can."""

    def __init__(self) -> None:
        super().__init__()
        self.slow = False
        self.listing = asyncio.Event()

    async def active_run_ids(self) -> list[str]:
        if not self.slow:
            return await super().active_run_ids()
        self.listing.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            raise WorkflowStoreError("connection closed while listing active runs") from None
        return []


async def test_stop_ends_heartbeat_despite_store_error(tmp_path: Path, bus: Any, actions: ActionRegistry) -> None:
    store = CancelSwallowingStore()
    write_template(tmp_path, "timeouts", TIMEOUTS)
    engine = WorkflowEngine(store=store, catalog=load_folder(tmp_path, actions),
                            env=StepEnvironment(actions, None, bus), options=FAST)
    await engine.start()
    store.slow = True
    await asyncio.wait_for(store.listing.wait(), 5)  # the heartbeat is now inside the listing
    # stop() suppresses its own cancellation while it waits for the heartbeat, so bound it from outside.
    stopping = asyncio.get_running_loop().create_task(engine.stop())
    done, _ = await asyncio.wait({stopping}, timeout=5)
    assert stopping in done, "engine.stop() did not return within 5 s"
    assert engine._maintenance is not None
    assert engine._maintenance.done()

"""The CloudEvents the engine publishes for every run and step transition.

Types are `com.fishwatch.workflow.run.<state>` and `com.fishwatch.workflow.step.<state>`. The
subject and `data.runId` are the run id, so a subscriber to one run filters on them, and
`farmid` is the run input's `farm_id` when it has one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from subscriptions.events import JSON_CONTENT_TYPE, SPEC_VERSION, WORKFLOW_RUN_PREFIX, WORKFLOW_STEP_PREFIX, CloudEvent
from workflows.records import RunRecord, StepRecord

SOURCE_PREFIX = "/fishwatch/workflows/"


def _event(event_type: str, run: RunRecord, data: dict[str, Any]) -> CloudEvent:
    # Built without validation, because every attribute is valid by construction (a workflow type, a
    # UUID id, an aware UTC time). Validating two events per step took about a sixth of the
    # scheduler's time in a profile of benchmarks/bench_workflows.py. tests/workflows/test_events.py
    # checks that these events pass CloudEvent validation.
    return CloudEvent.model_construct(
        specversion=SPEC_VERSION,
        id=str(uuid.uuid4()),
        source=SOURCE_PREFIX + run.template,
        type=event_type,
        time=dt.datetime.now(dt.UTC),
        subject=run.id,
        datacontenttype=JSON_CONTENT_TYPE,
        data=data,
        farmid=_farm_of(run),
        enclosureid=None,
    )


def _farm_of(run: RunRecord) -> str | None:
    farm_id = run.input.get("farm_id") if isinstance(run.input, dict) else None
    return farm_id if isinstance(farm_id, str) and farm_id else None


def run_event(run: RunRecord, state: str) -> CloudEvent:
    data: dict[str, Any] = {
        "runId": run.id,
        "template": run.template,
        "version": run.version,
        "status": str(run.status),
        "retries": run.generation,
        "trigger": run.trigger.get("kind"),
    }
    if run.error is not None:
        data["error"] = run.error
    return _event(WORKFLOW_RUN_PREFIX + state, run, data)


def step_event(run: RunRecord, step: StepRecord, state: str) -> CloudEvent:
    data: dict[str, Any] = {
        "runId": run.id,
        "template": run.template,
        "stepId": step.step_id,
        "status": str(step.status),
        "attempt": step.attempts,
        "compensation": step.compensation,
    }
    if step.error is not None:
        data["error"] = step.error
    if step.skip_reason is not None:
        data["skipReason"] = step.skip_reason
    return _event(WORKFLOW_STEP_PREFIX + state, run, data)

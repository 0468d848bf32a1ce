"""The CloudEvents the engine publishes for every run and step transition.

Types are `com.fishwatch.workflow.run.<state>` and `com.fishwatch.workflow.step.<state>`. The
subject and `data.runId` are the run id, so a subscriber to one run filters on them, and
`farmid` is the run input's `farm_id` when it has one.
"""

from __future__ import annotations

from typing import Any

from subscriptions.events import WORKFLOW_RUN_PREFIX, WORKFLOW_STEP_PREFIX, CloudEvent
from workflows.records import RunRecord, StepRecord

SOURCE_PREFIX = "/fishwatch/workflows/"


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
    return CloudEvent.new(
        WORKFLOW_RUN_PREFIX + state, SOURCE_PREFIX + run.template, data, subject=run.id, farm_id=_farm_of(run)
    )


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
    return CloudEvent.new(
        WORKFLOW_STEP_PREFIX + state, SOURCE_PREFIX + run.template, data, subject=run.id, farm_id=_farm_of(run)
    )

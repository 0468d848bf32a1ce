"""The transition events the engine builds are valid CloudEvents of the workflow family."""

from __future__ import annotations

from subscriptions.events import CloudEvent
from workflows import events
from workflows.records import RunRecord, RunStatus, StepRecord, StepStatus


def test_transition_events_validate() -> None:
    run = RunRecord(id="run-1", template="t", version=1, input={"farm_id": "farm-001"}, status=RunStatus.FAILED,
                    error={"step_id": "s", "code": "UPSTREAM_REJECTED", "message": "no"})
    step = StepRecord(step_id="s", status=StepStatus.SKIPPED, skip_reason="every dependency was skipped")
    for built in (events.run_event(run, "failed"), events.step_event(run, step, "skipped")):
        checked = CloudEvent.from_mapping(built.model_dump())
        assert checked.to_dict() == built.to_dict()
        assert checked.subject == "run-1"
        assert checked.farmid == "farm-001"
        assert checked.data is not None
        assert checked.data["runId"] == "run-1"
    assert events.step_event(run, step, "skipped").data == {
        "runId": "run-1", "template": "t", "stepId": "s", "status": "skipped", "attempt": 0, "compensation": False,
        "skipReason": "every dependency was skipped",
    }


def test_run_without_farm_has_no_farmid() -> None:
    run = RunRecord(id="run-2", template="t", version=1, input={"other": 1})
    assert events.run_event(run, "started").farmid is None

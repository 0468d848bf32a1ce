"""Stored state of workflow runs and their steps, and its JSON form in the run store.

Times are seconds since the Unix epoch (UTC) as floats, because they are compared and stored far
more often than shown. The GraphQL layer turns them into DateTime values.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class RunStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPENSATING = "compensating"  # a step failed for good and compensation steps are running
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"  # waiting for an event, a duration or an approval
    RETRYING = "retrying"  # an attempt failed and the next one waits for its backoff
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


TERMINAL_RUN = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
TERMINAL_STEP = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED})
# Steps that have started and not finished; a replica that takes over a run starts them again.
IN_FLIGHT_STEP = frozenset({StepStatus.RUNNING, StepStatus.WAITING, StepStatus.RETRYING})


@dataclass
class StepRecord:
    """One step of one run."""

    step_id: str
    compensation: bool = False
    status: StepStatus = StepStatus.PENDING
    attempts: int = 0
    ready_at: float | None = None
    started_at: float | None = None  # start of the current (or last) attempt
    finished_at: float | None = None
    next_attempt_at: float | None = None
    wait_until: float | None = None
    inputs: Any = None
    output: Any = None
    error: dict[str, Any] | None = None  # {code, message, retryable}
    skip_reason: str | None = None
    blocked: bool = False  # skipped because a dependency failed, was cancelled or was itself blocked
    decision: dict[str, Any] | None = None  # approval steps: {approved, actor, comment, at}
    cursor: str | None = None  # wait_event steps: bus position the wait replays from after a takeover
    history: list[dict[str, Any]] = field(default_factory=list)  # one entry per finished attempt

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: inputs and outputs are JSON values that are replaced, never mutated.
        data = dict(self.__dict__)
        data["history"] = list(self.history)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        record = cls(**data)
        record.status = StepStatus(record.status)
        record.history = list(record.history)
        return record


@dataclass
class RunRecord:
    """One run of a template, with its main and compensation steps by id in `steps`."""

    id: str
    template: str
    version: int
    input: dict[str, Any]
    status: RunStatus = RunStatus.PENDING
    trigger: dict[str, Any] = field(default_factory=dict)  # {kind: mutation|event|schedule, ...}
    idempotency_key: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = 0.0
    error: dict[str, Any] | None = None  # {step_id, code, message} of the step that failed the run
    generation: int = 0  # how often the run was retried; part of every action's idempotency key
    steps: dict[str, StepRecord] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_RUN

    def header(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        del data["steps"]
        return data

    def to_dict(self) -> dict[str, Any]:
        data = self.header()
        data["steps"] = {step_id: step.to_dict() for step_id, step in self.steps.items()}
        return data

    @classmethod
    def from_parts(cls, header: dict[str, Any], steps: list[dict[str, Any]]) -> RunRecord:
        record = cls(**{**header, "steps": {}})
        record.status = RunStatus(record.status)
        for data in steps:
            step = StepRecord.from_dict(data)
            record.steps[step.step_id] = step
        return record

    def copy(self) -> RunRecord:
        header = self.header()
        return RunRecord.from_parts(header, [step.to_dict() for step in self.steps.values()])

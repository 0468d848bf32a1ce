"""Stored state of workflow runs and their steps, and its JSON form in the run store.

Times are seconds since the Unix epoch (UTC) as floats, because they are compared and stored far
more often than shown. The GraphQL layer turns them into DateTime values.

Records live as long as their run is driven, and every full garbage collection walks each
tracked object of every run in flight. So records are slotted dataclasses (one tracked object
each, with no instance dict), and a step keeps its attempt history as nested tuples of plain
values, which the collector stops tracking.
"""

from __future__ import annotations

import enum
import operator
from dataclasses import dataclass, field, fields
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


@dataclass(slots=True)
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
    attempt_log: tuple[Attempt, ...] = ()  # one entry per finished attempt, oldest first; see `history`

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every finished attempt, oldest first, as {attempt, started_at, finished_at, error}."""
        return [_attempt_dict(entry) for entry in self.attempt_log]

    def add_attempt(self, started_at: float | None, finished_at: float, error: dict[str, Any] | None) -> None:
        """Append the current attempt (number `attempts`) to the history.

        `error` is None for a successful attempt, else {code, message, retryable}.
        """
        error_values = None if error is None else (error["code"], error["message"], error["retryable"])
        self.attempt_log = (*self.attempt_log, (self.attempts, started_at, finished_at, error_values))

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: inputs and outputs are JSON values that are replaced, never mutated.
        data = dict(zip(_STEP_FIELDS, _step_values(self), strict=True))
        del data["attempt_log"]
        data["history"] = self.history
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecord:
        fields_only = dict(data)
        history = fields_only.pop("history", ())
        record = cls(**fields_only)
        record.status = StepStatus(record.status)
        record.attempt_log = tuple(_attempt_values(entry) for entry in history)
        return record


@dataclass(slots=True)
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
        return dict(zip(_HEADER_FIELDS, _header_values(self), strict=True))

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


# A finished attempt: (attempt number, started_at, finished_at, None or (code, message, retryable)).
Attempt = tuple[int, float | None, float | None, tuple[str, str, bool] | None]


def _attempt_dict(entry: Attempt) -> dict[str, Any]:
    attempt, started_at, finished_at, error = entry
    return {
        "attempt": attempt,
        "started_at": started_at,
        "finished_at": finished_at,
        "error": None if error is None else {"code": error[0], "message": error[1], "retryable": error[2]},
    }


def _attempt_values(entry: dict[str, Any]) -> Attempt:
    error = entry.get("error")
    error_values = None if error is None else (error["code"], error["message"], error["retryable"])
    return (entry["attempt"], entry.get("started_at"), entry.get("finished_at"), error_values)


_STEP_FIELDS = tuple(item.name for item in fields(StepRecord))
_HEADER_FIELDS = tuple(item.name for item in fields(RunRecord) if item.name != "steps")
_step_values = operator.attrgetter(*_STEP_FIELDS)
_header_values = operator.attrgetter(*_HEADER_FIELDS)

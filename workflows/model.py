"""Workflow templates as loaded from YAML: steps, retry policies and triggers."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import Any


class StepKind(enum.StrEnum):
    """What a step does when it runs."""

    ACTION = "action"  # call a connector action such as `core.create_farm`
    PUBLISH = "publish"  # publish a CloudEvent on the bus
    WAIT_EVENT = "wait_event"  # wait for bus events matching a filter, with a deadline
    SLEEP = "sleep"  # wait for a duration
    CONDITION = "condition"  # evaluate an expression and skip the steps of the branch not taken
    APPROVAL = "approval"  # wait for a human's approveWorkflowStep mutation


# Kinds that spend their time waiting, so they hold no concurrency slot while they wait.
WAITING_KINDS = frozenset({StepKind.WAIT_EVENT, StepKind.SLEEP, StepKind.APPROVAL})


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed step attempt is repeated, and after how long; durations in seconds."""

    max_attempts: int = 1
    backoff_s: float = 0.5
    backoff_max_s: float = 30.0
    # Error codes to retry; empty means "every error whose class is marked retryable".
    retry_on: frozenset[str] = frozenset()

    def should_retry(self, code: str, retryable: bool, attempt: int) -> bool:
        if attempt >= self.max_attempts:
            return False
        return code in self.retry_on if self.retry_on else retryable

    def delay_s(self, attempt: int) -> float:
        """Exponential backoff with full jitter: uniform in [0, min(max, base * 2^(attempt-1))]."""
        cap = min(self.backoff_max_s, self.backoff_s * 2 ** (attempt - 1))
        return random.uniform(0, cap)


@dataclass(frozen=True)
class StepSpec:
    """One step of a template; fields beyond the common ones apply to the kinds named."""

    id: str
    kind: StepKind
    depends_on: tuple[str, ...] = ()
    description: str = ""
    timeout_s: float | str | None = None  # a number, or `${expr}` for wait_event and approval
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    inputs: dict[str, Any] = field(default_factory=dict)  # action arguments, publish data, approval prompt
    action: str | None = None  # action
    for_each: str | None = None  # action, wait_event: `${expr}` giving the list to iterate or expect
    event_type: str | None = None  # publish, wait_event
    subject: str | None = None  # publish: `${...}` allowed
    farm_id: str | None = None  # publish: `${...}` allowed; required by farm-scoped event families
    filter: str | None = None  # wait_event: JMESPath over {event, input, steps, item}
    key: str | None = None  # wait_event with for_each: JMESPath giving each event's key
    on_timeout: str = "fail"  # wait_event: "fail" or "continue"
    duration_s: float | str | None = None  # sleep
    when: str | None = None  # condition
    then_steps: tuple[str, ...] = ()  # condition
    else_steps: tuple[str, ...] = ()  # condition
    compensates: str | None = None  # compensation steps: run only if this step succeeded


@dataclass(frozen=True)
class EventTrigger:
    """Start a run for every bus event of `event_type` that matches `filter`."""

    event_type: str
    filter: str | None
    input: dict[str, Any]


@dataclass(frozen=True)
class ScheduleTrigger:
    """Start a run at every slot of a cron expression (UTC)."""

    cron: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Template:
    """A validated workflow template."""

    name: str
    version: int
    description: str
    input_schema: dict[str, Any]
    steps: tuple[StepSpec, ...]
    compensation: tuple[StepSpec, ...] = ()
    event_triggers: tuple[EventTrigger, ...] = ()
    schedules: tuple[ScheduleTrigger, ...] = ()
    max_concurrent_steps: int | None = None
    source: str = ""

    def step(self, step_id: str) -> StepSpec:
        for spec in self.steps + self.compensation:
            if spec.id == step_id:
                return spec
        raise KeyError(step_id)

    def all_steps(self) -> tuple[StepSpec, ...]:
        return self.steps + self.compensation

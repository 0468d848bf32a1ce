"""GraphQL types of workflow templates, runs and steps."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, cast

import strawberry
from strawberry.scalars import JSON

from workflows.graph import step_graph
from workflows.model import Template
from workflows.records import RunRecord, StepRecord


@strawberry.enum(description="Where a run is in its life cycle.")
class WorkflowRunStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPENSATING = "compensating"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@strawberry.enum(description="Where a step of a run is.")
class WorkflowStepStatus(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


@strawberry.enum(description="What a step does.")
class WorkflowStepKind(enum.Enum):
    ACTION = "action"
    PUBLISH = "publish"
    WAIT_EVENT = "wait_event"
    SLEEP = "sleep"
    CONDITION = "condition"
    APPROVAL = "approval"


def _time(value: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value is not None else None


def _json(value: Any) -> JSON:
    return cast(JSON, value)


@strawberry.type(description="A step of a template's graph.")
class WorkflowGraphNode:
    id: str = strawberry.field(description="Step id.")
    kind: str = strawberry.field(description="Step kind, as in the template.")
    label: str = strawberry.field(description="Short label: the id with the action or event type.")
    compensation: bool = strawberry.field(description="Whether it runs only to compensate a failed run.")


@strawberry.type(description="An ordering between two steps of a template's graph.")
class WorkflowGraphEdge:
    source: str = strawberry.field(description="Step that comes first.")
    target: str = strawberry.field(description="Step that comes after it.")
    kind: str = strawberry.field(
        description="depends_on, then or else (branches of a condition), or compensates."
    )


@strawberry.type(description="A template's steps as a graph, ready to draw.")
class WorkflowGraph:
    nodes: list[WorkflowGraphNode] = strawberry.field(description="One node per step.")
    edges: list[WorkflowGraphEdge] = strawberry.field(description="Dependencies, branches and compensations.")


@strawberry.type(description="The definition of one step in a template.")
class WorkflowStepDefinition:
    id: str = strawberry.field(description="Step id, unique in the template.")
    kind: WorkflowStepKind = strawberry.field(description="What the step does.")
    description: str = strawberry.field(description="What the step is for.")
    depends_on: list[str] = strawberry.field(description="Steps that must finish first.")
    action: str | None = strawberry.field(description="Connector action an action step calls.")
    event_type: str | None = strawberry.field(description="Event type a publish or wait_event step uses.")
    max_attempts: int = strawberry.field(description="Attempts before the step fails for good.")
    compensation: bool = strawberry.field(description="Whether it runs only to compensate a failed run.")


@strawberry.type(description="A workflow template loaded by the gateway.")
class WorkflowTemplate:
    name: str = strawberry.field(description="Template name, passed to startWorkflow.")
    version: int = strawberry.field(description="Template version; runs record the version they started with.")
    description: str = strawberry.field(description="What the workflow does.")
    input_schema: JSON = strawberry.field(description="JSON Schema (draft 2020-12) that a run's input must match.")
    steps: list[WorkflowStepDefinition] = strawberry.field(description="Steps, then compensation steps.")
    graph: WorkflowGraph = strawberry.field(description="The steps as nodes and edges.")
    event_triggers: list[str] = strawberry.field(description="Event types that start a run.")
    schedules: list[str] = strawberry.field(description="Cron expressions (UTC) that start a run.")

    @classmethod
    def from_template(cls, template: Template) -> WorkflowTemplate:
        nodes, edges = step_graph(template)
        return cls(
            name=template.name,
            version=template.version,
            description=template.description,
            input_schema=_json(template.input_schema),
            steps=[
                WorkflowStepDefinition(
                    id=spec.id,
                    kind=WorkflowStepKind(spec.kind.value),
                    description=spec.description,
                    depends_on=list(spec.depends_on),
                    action=spec.action,
                    event_type=spec.event_type,
                    max_attempts=spec.retry.max_attempts,
                    compensation=spec in template.compensation,
                )
                for spec in template.all_steps()
            ],
            graph=WorkflowGraph(
                nodes=[WorkflowGraphNode(id=n.id, kind=n.kind, label=n.label, compensation=n.compensation)
                       for n in nodes],
                edges=[WorkflowGraphEdge(source=e.source, target=e.target, kind=e.kind) for e in edges],
            ),
            event_triggers=[trigger.event_type for trigger in template.event_triggers],
            schedules=[schedule.cron for schedule in template.schedules],
        )


@strawberry.type(description="Why a step attempt or a run failed.")
class WorkflowError:
    code: str = strawberry.field(description="Error code, as in GraphQL extensions.code.")
    message: str = strawberry.field(description="What failed, in words.")
    retryable: bool = strawberry.field(description="Whether the error class is marked as worth retrying.")
    step_id: str | None = strawberry.field(description="On a run: the step whose failure failed it.")

    @classmethod
    def from_record(cls, error: dict[str, Any] | None) -> WorkflowError | None:
        if error is None:
            return None
        return cls(
            code=str(error.get("code", "")),
            message=str(error.get("message", "")),
            retryable=bool(error.get("retryable", False)),
            step_id=error.get("step_id"),
        )


@strawberry.type(description="One finished attempt of a step.")
class WorkflowStepAttempt:
    attempt: int = strawberry.field(description="Attempt number, from 1.")
    started_at: dt.datetime | None = strawberry.field(description="When it started (UTC).")
    finished_at: dt.datetime | None = strawberry.field(description="When it ended (UTC).")
    error: WorkflowError | None = strawberry.field(description="Why it failed; null when it succeeded.")


@strawberry.type(description="One step of a run.")
class WorkflowStep:
    id: str = strawberry.field(description="Step id from the template.")
    status: WorkflowStepStatus = strawberry.field(description="Where the step is.")
    compensation: bool = strawberry.field(description="Whether it is a compensation step.")
    attempts: int = strawberry.field(description="Attempts started so far.")
    ready_at: dt.datetime | None = strawberry.field(description="When its dependencies allowed it to start (UTC).")
    started_at: dt.datetime | None = strawberry.field(description="When its latest attempt started (UTC).")
    finished_at: dt.datetime | None = strawberry.field(description="When it finished (UTC).")
    next_attempt_at: dt.datetime | None = strawberry.field(description="When a retrying step tries again (UTC).")
    wait_until: dt.datetime | None = strawberry.field(description="Deadline of a waiting step (UTC).")
    inputs: JSON | None = strawberry.field(description="Inputs of its latest attempt, expressions resolved.")
    output: JSON | None = strawberry.field(description="Output once it succeeded.")
    error: WorkflowError | None = strawberry.field(description="Error of its latest failed attempt.")
    skip_reason: str | None = strawberry.field(description="Why it was skipped.")
    decision: JSON | None = strawberry.field(description="Approval steps: approved, actor, comment.")
    history: list[WorkflowStepAttempt] = strawberry.field(description="Every finished attempt, oldest first.")

    @classmethod
    def from_record(cls, record: StepRecord) -> WorkflowStep:
        return cls(
            id=record.step_id,
            status=WorkflowStepStatus(record.status.value),
            compensation=record.compensation,
            attempts=record.attempts,
            ready_at=_time(record.ready_at),
            started_at=_time(record.started_at),
            finished_at=_time(record.finished_at),
            next_attempt_at=_time(record.next_attempt_at),
            wait_until=_time(record.wait_until),
            inputs=_json(record.inputs),
            output=_json(record.output),
            error=WorkflowError.from_record(record.error),
            skip_reason=record.skip_reason,
            decision=_json(record.decision),
            history=[
                WorkflowStepAttempt(
                    attempt=int(entry.get("attempt") or 0),
                    started_at=_time(entry.get("started_at")),
                    finished_at=_time(entry.get("finished_at")),
                    error=WorkflowError.from_record(entry.get("error")),
                )
                for entry in record.history
            ],
        )


@strawberry.type(description="One run of a workflow template.")
class WorkflowRun:
    id: strawberry.ID = strawberry.field(description="Run id.")
    template: str = strawberry.field(description="Template name.")
    template_version: int = strawberry.field(description="Template version the run started with.")
    status: WorkflowRunStatus = strawberry.field(description="Where the run is.")
    input: JSON = strawberry.field(description="The run's input, as validated against the template's schema.")
    trigger: JSON = strawberry.field(description="What started it: kind mutation, event or schedule, with details.")
    idempotency_key: str | None = strawberry.field(description="Key it was started with, if any.")
    created_at: dt.datetime = strawberry.field(description="When it was created (UTC).")
    started_at: dt.datetime | None = strawberry.field(description="When it started (UTC).")
    finished_at: dt.datetime | None = strawberry.field(description="When it finished (UTC).")
    updated_at: dt.datetime | None = strawberry.field(description="When its state last changed (UTC).")
    retries: int = strawberry.field(description="How often it was retried with retryWorkflowRun.")
    error: WorkflowError | None = strawberry.field(description="The failure that failed or cancelled it.")
    steps: list[WorkflowStep] = strawberry.field(description="Its steps in template order; empty in listings.")

    @classmethod
    def from_record(cls, run: RunRecord) -> WorkflowRun:
        return cls(
            id=strawberry.ID(run.id),
            template=run.template,
            template_version=run.version,
            status=WorkflowRunStatus(run.status.value),
            input=_json(run.input),
            trigger=_json({key: value for key, value in run.trigger.items() if key != "event"}),
            idempotency_key=run.idempotency_key,
            created_at=dt.datetime.fromtimestamp(run.created_at, dt.UTC),
            started_at=_time(run.started_at),
            finished_at=_time(run.finished_at),
            updated_at=_time(run.updated_at),
            retries=run.generation,
            error=WorkflowError.from_record(run.error),
            steps=[WorkflowStep.from_record(step) for step in run.steps.values()],
        )

"""Workflow fields: templates and runs (Query), start/cancel/retry/approve (Mutation).

A run belongs to a farm when its input has `farm_id`. Callers see such a run only if they may see
that farm, and runs without a farm are visible to every caller with the scope.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import strawberry
from strawberry.scalars import JSON

from common.errors import InvalidArgumentError, WorkflowError, WorkflowRunNotFoundError
from resolvers.arguments import After, First, utc
from resolvers.context import GatewayInfo
from resolvers.pagination import Connection, Edge, PageInfo, check_first, decode_cursor, encode_cursor
from resolvers.permissions import can_see_farm, requires_scopes
from resolvers.types.workflows import WorkflowRun, WorkflowRunStatus, WorkflowTemplate
from workflows.engine import WorkflowEngine
from workflows.graph import mermaid
from workflows.records import RunRecord
from workflows.store import RunQuery

_RUNS = "workflowRuns"
# Runs read per store call while filling a page; bounds the work a page of hidden runs can cause.
_PAGE_READ = 200

RunId = Annotated[strawberry.ID, strawberry.argument(description="Run id, as returned by startWorkflow.")]


def engine_of(info: GatewayInfo) -> WorkflowEngine:
    runtime = info.context.workflows
    if runtime is None:
        raise WorkflowError("the workflow engine is not running in this gateway")
    engine: WorkflowEngine = runtime.engine
    return engine


def _farm_of(run: RunRecord) -> str | None:
    farm_id = run.input.get("farm_id") if isinstance(run.input, dict) else None
    return farm_id if isinstance(farm_id, str) else None


async def _visible_run(info: GatewayInfo, run_id: str) -> RunRecord:
    """Return the run, or raise WORKFLOW_RUN_NOT_FOUND for a missing one and for another tenant's."""
    run = await engine_of(info).get_run(run_id)
    if not await can_see_farm(info, _farm_of(run)):
        raise WorkflowRunNotFoundError(f"workflow run '{run_id}' does not exist or passed its retention",
                                       run_id=run_id)
    return run


def _run_cursor(run: RunRecord) -> str:
    return encode_cursor(_RUNS, f"{run.created_at!r}|{run.id}", 0)


def _after_key(after: str | None) -> tuple[float, str] | None:
    position = decode_cursor(_RUNS, after)
    if position.upstream is None:
        return None
    created, _, run_id = position.upstream.partition("|")
    try:
        return float(created), run_id
    except ValueError:
        raise InvalidArgumentError(f"cursor '{after}' was not issued for this list; pass an endCursor of "
                                   "workflowRuns", argument="after") from None


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="Workflow templates the gateway loaded, by name.",
                      extensions=[requires_scopes("workflows:read")])
    def workflow_templates(self, info: GatewayInfo) -> list[WorkflowTemplate]:
        catalog = engine_of(info).catalog
        return [WorkflowTemplate.from_template(catalog.templates[name]) for name in sorted(catalog.templates)]

    @strawberry.field(description="One workflow template by name, or null when none is loaded.",
                      extensions=[requires_scopes("workflows:read")])
    def workflow_template(self, info: GatewayInfo, name: str) -> WorkflowTemplate | None:
        template = engine_of(info).catalog.get(name)
        return WorkflowTemplate.from_template(template) if template is not None else None

    @strawberry.field(description="A template's step graph as a Mermaid flowchart, or null when none is loaded.",
                      extensions=[requires_scopes("workflows:read")])
    def workflow_template_mermaid(self, info: GatewayInfo, name: str) -> str | None:
        template = engine_of(info).catalog.get(name)
        return mermaid(template) if template is not None else None

    @strawberry.field(description="One workflow run with its steps, or null when it does not exist.",
                      extensions=[requires_scopes("workflows:read")])
    async def workflow_run(self, info: GatewayInfo, id: RunId) -> WorkflowRun | None:
        try:
            return WorkflowRun.from_record(await _visible_run(info, str(id)))
        except WorkflowRunNotFoundError:
            return None

    @strawberry.field(description="Workflow runs, newest first; each run's steps are left out (read workflowRun).",
                      extensions=[requires_scopes("workflows:read")])
    async def workflow_runs(
        self,
        info: GatewayInfo,
        template: Annotated[str | None, strawberry.argument(description="Only runs of this template.")] = None,
        statuses: Annotated[
            list[WorkflowRunStatus] | None, strawberry.argument(description="Only runs in one of these states.")
        ] = None,
        created_after: Annotated[
            dt.datetime | None, strawberry.argument(description="Only runs created at or after this time.")
        ] = None,
        created_before: Annotated[
            dt.datetime | None, strawberry.argument(description="Only runs created before this time.")
        ] = None,
        first: First = 50,
        after: After = None,
    ) -> Connection[WorkflowRun]:
        check_first(first, info.context.limits.max_page_size)
        engine = engine_of(info)
        query = RunQuery(
            template=template,
            statuses=frozenset(status.value for status in statuses) if statuses else None,
            created_after=utc(created_after).timestamp() if created_after else None,
            created_before=utc(created_before).timestamp() if created_before else None,
            after_key=_after_key(after),
        )
        visible: list[RunRecord] = []
        more = False
        while True:
            page, _ = await engine.list_runs(query, 0, _PAGE_READ)
            for run in page:
                if await can_see_farm(info, _farm_of(run)):
                    visible.append(run)
            if len(visible) > first:
                more = True
                break
            if len(page) < _PAGE_READ or not page:
                break
            last = page[-1]
            query = RunQuery(template=query.template, statuses=query.statuses, created_after=query.created_after,
                             created_before=query.created_before, after_key=(last.created_at, last.id))
        window = visible[:first]
        edges = [Edge(node=WorkflowRun.from_record(run), cursor=_run_cursor(run)) for run in window]
        return Connection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=more,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            total_count=None,
        )


Actor = Annotated[str, strawberry.argument(description="Who makes the decision, as stored with the step.")]


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(
        description="Start a run of a template. With an idempotencyKey, repeating the call returns the first run.",
        extensions=[requires_scopes("workflows:write")],
    )
    async def start_workflow(
        self,
        info: GatewayInfo,
        template: Annotated[str, strawberry.argument(description="Template name.")],
        input: Annotated[JSON, strawberry.argument(description="Run input; must match the template's inputSchema.")],
        idempotency_key: Annotated[
            str | None, strawberry.argument(description="Client-chosen key (1-255 characters) that makes retries safe.")
        ] = None,
    ) -> WorkflowRun:
        run_input: Any = input
        farm_id = run_input.get("farm_id") if isinstance(run_input, dict) else None
        if isinstance(farm_id, str) and not await can_see_farm(info, farm_id):
            raise InvalidArgumentError(f"farm '{farm_id}' not found", argument="input.farm_id")
        run = await engine_of(info).start_run(template, run_input, idempotency_key=idempotency_key,
                                              trigger={"kind": "mutation"})
        return WorkflowRun.from_record(await engine_of(info).get_run(run.id))

    @strawberry.mutation(description="Cancel an unfinished run; its running steps are stopped.",
                         extensions=[requires_scopes("workflows:write")])
    async def cancel_workflow_run(
        self,
        info: GatewayInfo,
        id: RunId,
        reason: Annotated[str | None, strawberry.argument(description="Why, stored on the run.")] = None,
    ) -> WorkflowRun:
        await _visible_run(info, str(id))
        return WorkflowRun.from_record(await engine_of(info).cancel_run(str(id), reason))

    @strawberry.mutation(
        description="Run a failed run again from its failed and skipped steps; succeeded steps are not re-run.",
        extensions=[requires_scopes("workflows:write")],
    )
    async def retry_workflow_run(self, info: GatewayInfo, id: RunId) -> WorkflowRun:
        await _visible_run(info, str(id))
        return WorkflowRun.from_record(await engine_of(info).retry_run(str(id)))

    @strawberry.mutation(description="Approve (or reject) an approval step that is waiting.",
                         extensions=[requires_scopes("workflows:write")])
    async def approve_workflow_step(
        self,
        info: GatewayInfo,
        run_id: RunId,
        step_id: Annotated[str, strawberry.argument(description="Id of the approval step.")],
        actor: Actor,
        approved: Annotated[bool, strawberry.argument(description="False rejects: the step fails.")] = True,
        comment: Annotated[str | None, strawberry.argument(description="Stored with the decision.")] = None,
    ) -> WorkflowRun:
        await _visible_run(info, str(run_id))
        run = await engine_of(info).approve_step(str(run_id), step_id, approved=approved, actor=actor, comment=comment)
        return WorkflowRun.from_record(run)

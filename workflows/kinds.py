"""What each step kind does during one attempt, given the run's expression scope.

The driver owns state and retries. These functions only perform the work, and return the step's
output or raise a FishWatchError whose `code` and `retryable` steer the retry policy.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from common.errors import (
    WorkflowError,
    WorkflowEventTimeoutError,
    WorkflowExpressionError,
    WorkflowStepRejectedError,
)
from connectors.actions import ActionRegistry
from workflows import expressions
from workflows.model import StepKind, StepSpec
from workflows.records import RunRecord, StepRecord

logger = logging.getLogger(__name__)

# Step kinds whose attempt evaluates expressions against the run's scope while it runs. The others
# work from the inputs rendered when the attempt started.
KINDS_USING_SCOPE = frozenset({StepKind.PUBLISH, StepKind.CONDITION, StepKind.WAIT_EVENT})


@dataclass
class StepEnvironment:
    """Resources steps reach outside their run: connector actions and the event bus (None when absent)."""

    actions: ActionRegistry
    connectors: Any
    bus: Any


def idempotency_key(run: RunRecord, step_id: str) -> str:
    """Return the key every attempt of one step sends, on every replica; a run retry changes it."""
    return f"wf:{run.id}:{run.generation}:{step_id}"


def resolve_seconds(value: float | str | None, scope: dict[str, Any], field: str) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    resolved = expressions.render(value, scope, field)
    try:
        seconds = float(resolved)
    except (TypeError, ValueError):
        raise WorkflowExpressionError(f"{field} '{value}' gave {resolved!r}, not a number of seconds",
                                      field=field) from None
    if seconds < 0:
        raise WorkflowExpressionError(f"{field} '{value}' gave {seconds}, a negative duration", field=field)
    return seconds


def resolve_inputs(spec: StepSpec, scope: dict[str, Any]) -> Any:
    """Render the inputs an attempt works with (shown on the step's record)."""
    if spec.kind is StepKind.ACTION and spec.for_each is not None:
        items = expressions.evaluate(spec.for_each, scope, "for_each")
        if not isinstance(items, list):
            raise WorkflowExpressionError(
                f"for_each '{spec.for_each}' gave {type(items).__name__}, expected a list", field="for_each"
            )
        return [
            expressions.render(spec.inputs, {**scope, "item": item, "index": index}, "inputs")
            for index, item in enumerate(items)
        ]
    if spec.kind in (StepKind.ACTION, StepKind.PUBLISH, StepKind.APPROVAL):
        return expressions.render(spec.inputs, scope, "inputs")
    if spec.kind is StepKind.WAIT_EVENT and spec.for_each is not None:
        expected = expressions.evaluate(spec.for_each, scope, "for_each")
        if not isinstance(expected, list):
            raise WorkflowExpressionError(
                f"for_each '{spec.for_each}' gave {type(expected).__name__}, expected a list", field="for_each"
            )
        return {"expected": expected}
    return None


def perform(
    env: StepEnvironment,
    run: RunRecord,
    spec: StepSpec,
    record: StepRecord,
    scope: dict[str, Any],
    wait_for_decision: Callable[[str, float | None], Awaitable[dict[str, Any]]],
) -> Awaitable[Any]:
    """Return the awaitable that runs one attempt of a step and returns its output.

    Only kinds in KINDS_USING_SCOPE read `scope`, and the others get an empty one. An action step
    returns its handler's coroutine itself, because every coroutine frame in between would live,
    and be walked by each full garbage collection, for as long as the action runs.
    """
    if spec.kind is StepKind.ACTION:
        return _action(env, run, spec, record)
    if spec.kind is StepKind.PUBLISH:
        return _publish(env, spec, record, scope)
    if spec.kind is StepKind.CONDITION:
        return _condition(spec, scope)
    if spec.kind is StepKind.SLEEP:
        return _sleep(record)
    if spec.kind is StepKind.WAIT_EVENT:
        return _wait_event(env, spec, record, scope)
    if spec.kind is StepKind.APPROVAL:
        return _approval(spec, record, wait_for_decision)
    raise WorkflowError(f"step kind {spec.kind} has no implementation")


def _action(env: StepEnvironment, run: RunRecord, spec: StepSpec, record: StepRecord) -> Awaitable[Any]:
    assert spec.action is not None
    action = env.actions.get(spec.action)
    key = idempotency_key(run, spec.id)
    if spec.for_each is None:
        return action.handler(env.connectors, action.parse(record.inputs), key)
    return _action_each(env, spec, record, key)


async def _action_each(env: StepEnvironment, spec: StepSpec, record: StepRecord, key: str) -> list[Any]:
    # Items run one after another, each with its own key, so a retry skips nothing and repeats nothing.
    assert spec.action is not None
    action = env.actions.get(spec.action)
    results = []
    for index, arguments in enumerate(record.inputs):
        results.append(await action.handler(env.connectors, action.parse(arguments), f"{key}:{index}"))
    return results


async def _condition(spec: StepSpec, scope: dict[str, Any]) -> dict[str, Any]:
    assert spec.when is not None
    result = expressions.truthy(expressions.evaluate(spec.when, scope, "when"))
    return {"result": result, "branch": "then" if result else "else"}


async def _sleep(record: StepRecord) -> dict[str, Any]:
    await _sleep_until(record.wait_until)
    return {"slept_until": record.wait_until}


async def _approval(
    spec: StepSpec,
    record: StepRecord,
    wait_for_decision: Callable[[str, float | None], Awaitable[dict[str, Any]]],
) -> dict[str, Any]:
    decision = record.decision or await wait_for_decision(spec.id, record.wait_until)
    if not decision.get("approved"):
        raise WorkflowStepRejectedError(
            f"step {spec.id} was rejected by {decision.get('actor')}: {decision.get('comment') or 'no comment'}",
            actor=decision.get("actor"),
        )
    return decision


async def _publish(env: StepEnvironment, spec: StepSpec, record: StepRecord, scope: dict[str, Any]) -> Any:
    from subscriptions.events import CloudEvent

    if env.bus is None:
        raise WorkflowError(f"step {spec.id} publishes an event, but this gateway runs without an event bus")
    assert spec.event_type is not None
    subject = expressions.render(spec.subject, scope, "subject") if spec.subject else None
    farm_id = expressions.render(spec.farm_id, scope, "farm_id") if spec.farm_id else None
    data = record.inputs if isinstance(record.inputs, dict) else {"value": record.inputs}
    event = CloudEvent.new(
        spec.event_type,
        f"/fishwatch/workflows/{scope['run']['template']}/{spec.id}",
        data,
        subject=str(subject) if subject else None,
        farm_id=str(farm_id) if farm_id else None,
    )
    position = await env.bus.publish(event)
    return {"event_id": event.id, "type": event.type, "position": position}


async def _sleep_until(deadline: float | None) -> None:
    if deadline is not None:
        await asyncio.sleep(max(0.0, deadline - time.time()))


async def _wait_event(env: StepEnvironment, spec: StepSpec, record: StepRecord, scope: dict[str, Any]) -> Any:
    """Wait for one matching event, or with for_each one per expected key, until the step's deadline.

    The subscription replays from `record.cursor`, the bus position stored when the wait began, so
    a replica taking the step over sees the events published while no replica was waiting (as far as
    the bus retains them).
    """
    from subscriptions.errors import ResumePositionExpiredError

    if env.bus is None:
        raise WorkflowError(f"step {spec.id} waits for an event, but this gateway runs without an event bus")
    assert spec.event_type is not None
    expected: list[Any] | None = record.inputs["expected"] if spec.for_each is not None else None
    pending = {_key_text(item) for item in expected} if expected is not None else set()
    received: list[dict[str, Any]] = []

    async def consume(subscription: Any) -> None:
        async for event in subscription:
            payload = event.to_dict()
            event_scope = {**scope, "event": payload}
            if spec.filter is not None and not expressions.truthy(
                expressions.evaluate(spec.filter, event_scope, "filter")
            ):
                continue
            if expected is None:
                received.append(payload)
                return
            assert spec.key is not None
            key = _key_text(expressions.evaluate(spec.key, event_scope, "key"))
            if key in pending:
                pending.discard(key)
                received.append(payload)
                if not pending:
                    return

    remaining = None if record.wait_until is None else max(0.0, record.wait_until - time.time())
    try:
        subscription = env.bus.subscribe(types=[spec.event_type], after=record.cursor)
        try:
            entered = await subscription.__aenter__()
        except ResumePositionExpiredError:
            logger.warning("step %s: events since bus position %s are no longer retained; waiting for new ones",
                           spec.id, record.cursor)
            subscription = env.bus.subscribe(types=[spec.event_type])
            entered = await subscription.__aenter__()
        try:
            if expected is None or pending:
                async with asyncio.timeout(remaining):
                    await consume(entered)
        finally:
            await subscription.__aexit__(None, None, None)
    except TimeoutError:
        if spec.on_timeout == "fail":
            missing = sorted(pending) if expected is not None else None
            raise WorkflowEventTimeoutError(
                f"step {spec.id}: no {spec.event_type} event matched before the deadline"
                + (f"; missing: {', '.join(missing)}" if missing else ""),
                missing=missing,
            ) from None
    if expected is None:
        return {"received": bool(received), "event": received[0] if received else None}
    return {
        "received": not pending,
        "events": received,
        "missing": [item for item in expected if _key_text(item) in pending],
    }


def _key_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


"""The run store interface and its in-memory implementation.

Every write names the replica that owns the run's lease and fails with WorkflowLeaseLostError
when another replica holds it, so a replica that lost its lease can never overwrite the new
owner's state. Signals (approvals, cancellations) for a run owned elsewhere are queued on the run
and announced in the owner's inbox, which the owner polls at its heartbeat.
"""

from __future__ import annotations

import abc
import json
import time
from dataclasses import dataclass
from typing import Any

from common.errors import WorkflowLeaseLostError, WorkflowStoreError
from workflows.records import RunRecord, StepRecord


@dataclass(frozen=True)
class RunQuery:
    """Filters of a run listing; None means any value."""

    template: str | None = None
    statuses: frozenset[str] | None = None
    created_after: float | None = None
    created_before: float | None = None
    # Keyset position of a page: only runs strictly after (created_at, id) in newest-first order.
    after_key: tuple[float, str] | None = None


class RunStore(abc.ABC):
    """Durable state of runs, leases on them, and signals to their owners."""

    kind = "abstract"

    @abc.abstractmethod
    async def start(self) -> None:
        """Connect; raise WorkflowStoreError when the backend cannot be reached."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections; safe to call twice."""

    @abc.abstractmethod
    async def create_run(self, run: RunRecord, owner: str, lease_ttl_s: float) -> tuple[RunRecord, bool]:
        """Store a new run and lease it to `owner`, unless its idempotency key is taken.

        Returns the stored run and whether it was created; with a known key, the earlier run.
        """

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunRecord | None: ...

    @abc.abstractmethod
    async def write(
        self, run_id: str, owner: str, *, header: RunRecord | None = None, steps: list[StepRecord] | None = None
    ) -> None:
        """Write the run header and/or steps; raise WorkflowLeaseLostError unless `owner` holds the lease."""

    @abc.abstractmethod
    async def list_runs(self, query: RunQuery, offset: int, limit: int) -> tuple[list[RunRecord], int]:
        """Return one page of runs, newest first, without their steps, and the number of matches."""

    @abc.abstractmethod
    async def active_run_ids(self) -> list[str]:
        """Return the ids of runs that have not finished."""

    @abc.abstractmethod
    async def claim(self, run_id: str, owner: str, ttl_s: float) -> bool:
        """Take the lease of an unleased run; return whether `owner` has the lease now."""

    @abc.abstractmethod
    async def renew(self, run_ids: list[str], owner: str, ttl_s: float) -> list[str]:
        """Extend the leases `owner` holds; return the ids whose lease it lost."""

    @abc.abstractmethod
    async def release(self, run_id: str, owner: str) -> None: ...

    @abc.abstractmethod
    async def lease_owner(self, run_id: str) -> str | None: ...

    @abc.abstractmethod
    async def push_signal(self, run_id: str, signal: dict[str, Any], owner: str | None) -> None:
        """Queue a signal for a run and, with an `owner`, put the run id in that owner's inbox."""

    @abc.abstractmethod
    async def pop_signals(self, run_id: str) -> list[dict[str, Any]]: ...

    @abc.abstractmethod
    async def pop_inbox(self, owner: str) -> list[str]: ...

    @abc.abstractmethod
    async def purge_finished(self, finished_before: float) -> int:
        """Delete runs that finished before the given time; return how many were deleted."""


def _matches(run: RunRecord, query: RunQuery) -> bool:
    if query.template is not None and run.template != query.template:
        return False
    if query.statuses is not None and run.status not in query.statuses:
        return False
    if query.created_after is not None and run.created_at < query.created_after:
        return False
    if query.after_key is not None and (run.created_at, run.id) >= query.after_key:
        return False
    return not (query.created_before is not None and run.created_at >= query.created_before)


class MemoryRunStore(RunStore):
    """Runs in this process's memory: the embedded default, lost when the process ends.

    Records are stored as copies, so the engine's later changes reach the store only by `write`.
    Headers and steps are kept as JSON text, and the fields the store filters on as tuples of plain
    values. The garbage collector never scans strings and stops tracking such tuples, whereas a
    run's dicts and lists are many objects, and full collections over thousands of runs stall the loop.
    `max_runs` bounds memory: past it the oldest finished runs are dropped, and a new run is
    rejected when every stored run is still active.
    """

    kind = "memory"

    def __init__(self, max_runs: int = 10_000, clock: Any = time.monotonic) -> None:
        self.max_runs = max_runs
        self._clock = clock
        self._headers: dict[str, str] = {}  # run id -> header JSON
        self._steps: dict[str, dict[str, str]] = {}  # run id -> step id -> step JSON
        self._states: dict[str, _State] = {}  # run id -> (status, finished_at, template, idempotency key)
        self._idempotency: dict[tuple[str, str], str] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._signals: dict[str, list[dict[str, Any]]] = {}
        self._inboxes: dict[str, list[str]] = {}

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _lease_holder(self, run_id: str) -> str | None:
        lease = self._leases.get(run_id)
        if lease is None:
            return None
        if lease[1] <= self._clock():
            del self._leases[run_id]
            return None
        return lease[0]

    async def create_run(self, run: RunRecord, owner: str, lease_ttl_s: float) -> tuple[RunRecord, bool]:
        if run.idempotency_key is not None:
            existing_id = self._idempotency.get((run.template, run.idempotency_key))
            if existing_id is not None and existing_id in self._headers:
                existing = await self.get_run(existing_id)
                assert existing is not None
                return existing, False
        if len(self._headers) >= self.max_runs:
            self._evict_finished()
            if len(self._headers) >= self.max_runs:
                raise WorkflowStoreError(
                    f"the in-memory run store is full: {self.max_runs} unfinished runs "
                    "(FISHWATCH_WORKFLOW_MAX_RUNS_IN_MEMORY); wait for runs to finish or use Redis"
                )
        self._put_header(run)
        self._steps[run.id] = {step_id: _encode(step.to_dict()) for step_id, step in run.steps.items()}
        if run.idempotency_key is not None:
            self._idempotency[(run.template, run.idempotency_key)] = run.id
        self._leases[run.id] = (owner, self._clock() + lease_ttl_s)
        return run.copy(), True

    def _put_header(self, run: RunRecord) -> None:
        self._headers[run.id] = _encode(run.header())
        self._states[run.id] = (str(run.status), run.finished_at, run.template, run.idempotency_key)

    def _evict_finished(self) -> None:
        finished = sorted(
            (finished_at, run_id)
            for run_id, (_, finished_at, _, _) in self._states.items()
            if finished_at is not None
        )
        for _, run_id in finished[: max(1, len(finished) // 10)]:
            self._delete(run_id)

    def _delete(self, run_id: str) -> None:
        state = self._states.pop(run_id, None)
        if state is None:
            return
        del self._headers[run_id]
        del self._steps[run_id]
        _, _, template, key = state
        if key is not None:
            self._idempotency.pop((template, key), None)
        self._leases.pop(run_id, None)
        self._signals.pop(run_id, None)

    async def get_run(self, run_id: str) -> RunRecord | None:
        header = self._headers.get(run_id)
        if header is None:
            return None
        steps = [json.loads(step) for step in self._steps[run_id].values()]
        return RunRecord.from_parts(json.loads(header), steps)

    async def write(
        self, run_id: str, owner: str, *, header: RunRecord | None = None, steps: list[StepRecord] | None = None
    ) -> None:
        holder = self._lease_holder(run_id)
        if holder != owner:
            raise WorkflowLeaseLostError(
                f"run {run_id} is leased to {holder or 'nobody'}, not {owner}", run_id=run_id
            )
        stored_steps = self._steps.get(run_id)
        if stored_steps is None:
            raise WorkflowLeaseLostError(f"run {run_id} was deleted from the store", run_id=run_id)
        if header is not None:
            self._put_header(header)
        for step in steps or ():
            stored_steps[step.step_id] = _encode(step.to_dict())

    async def list_runs(self, query: RunQuery, offset: int, limit: int) -> tuple[list[RunRecord], int]:
        runs = [RunRecord.from_parts(json.loads(header), []) for header in self._headers.values()]
        runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        matching = [run for run in runs if _matches(run, query)]
        return matching[offset : offset + limit], len(matching)

    async def active_run_ids(self) -> list[str]:
        return [run_id for run_id, (status, _, _, _) in self._states.items() if status not in _TERMINAL_NAMES]

    async def claim(self, run_id: str, owner: str, ttl_s: float) -> bool:
        holder = self._lease_holder(run_id)
        if holder is not None and holder != owner:
            return False
        if run_id not in self._headers:
            return False
        self._leases[run_id] = (owner, self._clock() + ttl_s)
        return True

    async def renew(self, run_ids: list[str], owner: str, ttl_s: float) -> list[str]:
        lost = []
        expires = self._clock() + ttl_s
        for run_id in run_ids:
            if self._lease_holder(run_id) == owner:
                self._leases[run_id] = (owner, expires)
            else:
                lost.append(run_id)
        return lost

    async def release(self, run_id: str, owner: str) -> None:
        if self._lease_holder(run_id) == owner:
            del self._leases[run_id]

    async def lease_owner(self, run_id: str) -> str | None:
        return self._lease_holder(run_id)

    async def push_signal(self, run_id: str, signal: dict[str, Any], owner: str | None) -> None:
        # A JSON round trip, so the memory store accepts exactly what the Redis store accepts.
        self._signals.setdefault(run_id, []).append(json.loads(json.dumps(signal)))
        if owner is not None:
            self._inboxes.setdefault(owner, []).append(run_id)

    async def pop_signals(self, run_id: str) -> list[dict[str, Any]]:
        return self._signals.pop(run_id, [])

    async def pop_inbox(self, owner: str) -> list[str]:
        return self._inboxes.pop(owner, [])

    async def purge_finished(self, finished_before: float) -> int:
        expired = [
            run_id
            for run_id, (status, finished_at, _, _) in self._states.items()
            if finished_at is not None and status in _TERMINAL_NAMES and finished_at < finished_before
        ]
        for run_id in expired:
            self._delete(run_id)
        return len(expired)


_TERMINAL_NAMES = frozenset({"succeeded", "failed", "cancelled"})

# Status, finished_at, template and idempotency key of a stored run: the fields the store filters on.
_State = tuple[str, float | None, str, str | None]


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))

"""Replicas sharing the Redis run store: a killed gateway's run finishes on another one.

The kill test starts two real `fishwatch serve` processes on one Redis. The run's middle step
calls Core (a scripted server in this test) and the first call never responds, so the step is in
flight when the first gateway gets SIGKILL. The second gateway takes the run over when the lease
expires and calls Core again with the same Idempotency-Key.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from connectors.actions import ActionRegistry
from tests.peers import free_port
from tests.workflows.conftest import running_engine, wait_for_run, wait_for_step, write_template
from workflows.records import RunStatus, StepStatus
from workflows.redis_store import RedisRunStore
from workflows.store import RunQuery

KILL_TEMPLATE = """
name: register-site
version: 1
input_schema:
  type: object
  required: [farm_id]
  properties: {farm_id: {type: string}}
steps:
  - id: first
    kind: action
    action: core.create_enclosure
    inputs: {farm_id: "${input.farm_id}", name: pen-1, kind: sea_pen, volume_m3: 1000}
  - id: slow
    kind: action
    action: core.create_farm
    depends_on: [first]
    inputs: {organization_id: org-01, name: Skjervoy, region: norway-north, latitude: 70.0, longitude: 20.9}
    timeout_s: 30
  - id: last
    kind: action
    action: core.create_enclosure
    depends_on: [slow]
    inputs: {farm_id: "${steps.slow.output.id}", name: pen-2, kind: sea_pen, volume_m3: 1000}
"""


class ScriptedCore:
    """A Core System that records writes with their Idempotency-Key and never responds to the first farm create."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str | None]] = []
        self.first_farm_call = asyncio.Event()

    async def enclosure(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.writes.append(("enclosure", request.headers.get("Idempotency-Key")))
        return web.json_response(
            {"id": f"enc-{len(self.writes):03d}", "farm_id": body["farm_id"], "name": body["name"],
             "kind": body["kind"], "volume_m3": body["volume_m3"]},
            status=201,
        )

    async def farm(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.writes.append(("farm", request.headers.get("Idempotency-Key")))
        if not self.first_farm_call.is_set():
            self.first_farm_call.set()
            await asyncio.sleep(3600)  # the caller is killed while waiting
        return web.json_response({"id": "farm-901", **body}, status=201)

    async def healthz(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    def keys(self, kind: str) -> list[str | None]:
        return [key for name, key in self.writes if name == kind]


@contextlib.asynccontextmanager
async def serve_core(core: ScriptedCore) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/v1/enclosures", core.enclosure)
    app.router.add_post("/v1/farms", core.farm)
    app.router.add_get("/healthz", core.healthz)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@contextlib.contextmanager
def gateway_process(env: dict[str, str], log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    port = free_port()
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)],
            env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{port}/graphql"
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def graphql(session: aiohttp.ClientSession, url: str, query: str, **variables: Any) -> dict[str, Any]:
    async with session.post(url, json={"query": query, "variables": variables}) as response:
        body: dict[str, Any] = await response.json()
    assert "errors" not in body, body
    return body["data"]


def _tail(log: Path) -> str:
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


async def wait_ready(session: aiohttp.ClientSession, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gateway exited with {process.returncode}:\n{_tail(log)}")
        with contextlib.suppress(aiohttp.ClientError):
            async with session.get(url.replace("/graphql", "/healthz")) as response:
                if response.status == 200:
                    return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gateway did not start within 60 s:\n{_tail(log)}")


RUN_QUERY = """
query Run($id: ID!) {
  workflowRun(id: $id) {
    status
    steps { id status attempts history { attempt error { code } } }
  }
}
"""


async def poll_run(session: aiohttp.ClientSession, url: str, run_id: str, done: Any, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    run = None
    while time.monotonic() < deadline:
        run = (await graphql(session, url, RUN_QUERY, id=run_id))["workflowRun"]
        if run is not None and done(run):
            return run
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {run_id} did not reach the expected state within {timeout_s} s: {run}")


async def test_killed_gateway_run_finishes_elsewhere(tmp_path: Path, workflow_redis_url: str) -> None:
    templates = tmp_path / "templates"
    write_template(templates, "register-site", KILL_TEMPLATE)
    core = ScriptedCore()
    async with serve_core(core) as core_url, aiohttp.ClientSession() as session:
        env = {
            "FISHWATCH_REDIS_URL": workflow_redis_url,
            "FISHWATCH_REDIS_KEY_PREFIX": f"fwkill-{uuid.uuid4().hex[:8]}",
            "FISHWATCH_WORKFLOW_TEMPLATES_DIR": str(templates),
            "FISHWATCH_WORKFLOW_LEASE_TTL_S": "2",
            "FISHWATCH_WORKFLOW_HEARTBEAT_S": "0.3",
            "FISHWATCH_AUTH_ANONYMOUS": "on",
            "FISHWATCH_UPSTREAM_MAX_ATTEMPTS": "1",
            **{f"FISHWATCH_{name}_URL": core_url for name in ("CORE", "ACQUISITION", "FABRIC", "ALERTING", "MLFLOW")},
        }
        with gateway_process(env, tmp_path / "a.log") as (first, first_url), \
                gateway_process(env, tmp_path / "b.log") as (second, second_url):
            await wait_ready(session, first_url, first, tmp_path / "a.log")
            await wait_ready(session, second_url, second, tmp_path / "b.log")

            started = await graphql(
                session, first_url,
                "mutation($input: JSON!) { startWorkflow(template: \"register-site\", input: $input) { id status } }",
                input={"farm_id": "farm-001"},
            )
            run_id = started["startWorkflow"]["id"]
            await asyncio.wait_for(core.first_farm_call.wait(), 20)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)

            run = await poll_run(session, second_url, run_id, lambda r: r["status"] in ("SUCCEEDED", "FAILED"), 30)

    steps = {step["id"]: step for step in run["steps"]}
    assert run["status"] == "SUCCEEDED"
    assert steps["first"]["attempts"] == 1
    assert steps["slow"]["attempts"] == 2
    assert steps["slow"]["history"][0]["error"]["code"] == "WORKFLOW_LEASE_LOST"
    assert steps["last"]["status"] == "SUCCEEDED"
    assert core.keys("enclosure") == [f"wf:{run_id}:0:first", f"wf:{run_id}:0:last"]
    assert core.keys("farm") == [f"wf:{run_id}:0:slow", f"wf:{run_id}:0:slow"]


GATED = """
name: gated
version: 1
steps:
  - id: ask
    kind: approval
    inputs: {question: "go?"}
  - id: after
    kind: action
    action: test.echo
    depends_on: [ask]
    inputs: {value: done}
"""


@pytest.fixture
async def shared_store(workflow_redis_url: str) -> AsyncIterator[RedisRunStore]:
    store = RedisRunStore(workflow_redis_url, prefix=f"fwshared-{uuid.uuid4().hex[:8]}:wf")
    await store.start()
    yield store
    await store.close()


async def test_approval_reaches_owner_replica(tmp_path: Path, shared_store: RedisRunStore, bus: Any,
                                              actions: ActionRegistry) -> None:
    write_template(tmp_path, "gated", GATED)
    async with running_engine(tmp_path, shared_store, bus, actions, replica_id="replica-a") as owner, \
            running_engine(tmp_path, shared_store, bus, actions, replica_id="replica-b") as other:
        run = await owner.start_run("gated", {})
        await wait_for_step(owner, run.id, "ask", "waiting")
        await other.approve_step(run.id, "ask", approved=True, actor="ops")
        done = await wait_for_run(owner, run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["ask"].decision is not None
    assert done.steps["ask"].decision["actor"] == "ops"
    assert await shared_store.lease_owner(run.id) is None


async def test_stopped_replica_hands_run_over(tmp_path: Path, shared_store: RedisRunStore, bus: Any,
                                              actions: ActionRegistry) -> None:
    write_template(tmp_path, "gated", GATED)
    async with running_engine(tmp_path, shared_store, bus, actions, replica_id="replica-b") as survivor:
        async with running_engine(tmp_path, shared_store, bus, actions, replica_id="replica-a") as leaving:
            run = await leaving.start_run("gated", {})
            await wait_for_step(leaving, run.id, "ask", "waiting")
        # The stopped replica released its lease; the survivor takes the run at its next heartbeat.
        await wait_for_step(survivor, run.id, "ask", "waiting")
        await survivor.approve_step(run.id, "ask", approved=True, actor="ops")
        done = await wait_for_run(survivor, run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert done.steps["ask"].attempts == 1
    assert done.steps["after"].status is StepStatus.SUCCEEDED


async def test_same_key_on_two_replicas(tmp_path: Path, shared_store: RedisRunStore, bus: Any,
                                        actions: ActionRegistry) -> None:
    write_template(tmp_path, "gated", GATED)
    async with running_engine(tmp_path, shared_store, bus, actions, replica_id="replica-a") as first, \
            running_engine(tmp_path, shared_store, bus, actions, replica_id="replica-b") as second:
        started = await asyncio.gather(*(
            engine.start_run("gated", {}, idempotency_key="slot-2026-12-04T03:00Z")
            for engine in (first, second, first, second)
        ))
        runs, total = await shared_store.list_runs(RunQuery(template="gated"), 0, 10)
        owner = first if started[0].id in first.drivers else second
        await owner.cancel_run(started[0].id)
    assert len({run.id for run in started}) == 1
    assert total == 1
    assert runs[0].idempotency_key == "slot-2026-12-04T03:00Z"


async def test_batched_writes_check_each_lease(shared_store: RedisRunStore) -> None:
    from common.errors import WorkflowLeaseLostError
    from workflows.records import RunRecord, StepRecord

    runs = [RunRecord(id=f"run-batch-{index}", template="t", version=1, input={}, created_at=time.time())
            for index in range(50)]
    for run in runs:
        run.steps["s"] = StepRecord(step_id="s")
        await shared_store.create_run(run, "replica-a", 30)
    for run in runs:
        run.steps["s"].status = StepStatus.SUCCEEDED
    results = await asyncio.gather(
        *(shared_store.write(run.id, "replica-a" if index else "replica-b", steps=[run.steps["s"]])
          for index, run in enumerate(runs)),
        return_exceptions=True,
    )
    stored = [await shared_store.get_run(run.id) for run in runs]
    assert isinstance(results[0], WorkflowLeaseLostError)
    assert results[1:] == [None] * 49
    assert stored[0] is not None
    assert stored[0].steps["s"].status is StepStatus.PENDING
    assert all(run is not None and run.steps["s"].status is StepStatus.SUCCEEDED for run in stored[1:])

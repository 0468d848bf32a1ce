"""Workflow fields over GraphQL HTTP, and the workflowRun subscription fed by the engine's events."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from gql import Client, GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.gateway_process import RunningGateway, serve_gateway
from tests.workflows.conftest import write_template

APPROVE = """
name: approve-feed
version: 1
description: Ask before changing the feed plan.
input_schema:
  type: object
  required: [farm_id]
  properties: {farm_id: {type: string}}
steps:
  - id: ask
    kind: approval
    inputs: {question: "Change feed at ${input.farm_id}?"}
  - id: check
    kind: condition
    depends_on: [ask]
    when: "input.farm_id == 'farm-001'"
    then: [done]
  - id: done
    kind: sleep
    depends_on: [check]
    duration_s: 0.01
"""


@pytest.fixture(scope="module")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningGateway]:
    folder = tmp_path_factory.mktemp("templates")
    write_template(folder, "approve-feed", APPROVE)
    async with serve_gateway(workflow_templates_dir=str(folder)) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def workflow_subscribers(gateway: RunningGateway) -> int:
    """Count the bus subscriptions whose type filters cover workflow events."""
    return sum(
        1
        for subscription in gateway.services.bus.fanout.all()
        if any(type_filter.startswith("com.fishwatch.workflow.") for type_filter in subscription.filter.types)
    )


async def wait_for_subscribers(gateway: RunningGateway, count: int) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while workflow_subscribers(gateway) < count:
        assert asyncio.get_running_loop().time() < deadline, "the workflowRun subscription never reached the bus"
        await asyncio.sleep(0.01)


async def post(http: aiohttp.ClientSession, gateway: RunningGateway, query: str, **variables: Any) -> dict[str, Any]:
    async with http.post(gateway.graphql_url, json={"query": query, "variables": variables}) as response:
        body: dict[str, Any] = await response.json()
    return body


START = """
mutation Start($input: JSON!, $key: String, $template: String! = "approve-feed") {
  startWorkflow(template: $template, input: $input, idempotencyKey: $key) {
    id status template templateVersion input trigger
    steps { id status attempts }
  }
}
"""
RUN = """
query Run($id: ID!) {
  workflowRun(id: $id) {
    id status retries error { code message stepId }
    steps { id status attempts inputs output skipReason decision waitUntil error { code } history { attempt } }
  }
}
"""


async def test_templates_with_graph(gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    body = await post(http, gateway, """
      {
        workflowTemplates {
          name version description inputSchema
          graph { nodes { id kind } edges { source target kind } }
        }
        workflowTemplateMermaid(name: "approve-feed")
        missing: workflowTemplate(name: "nope") { name }
      }
    """)
    template = body["data"]["workflowTemplates"][0]
    assert template["name"] == "approve-feed"
    assert template["inputSchema"]["required"] == ["farm_id"]
    assert template["graph"]["nodes"] == [
        {"id": "ask", "kind": "approval"}, {"id": "check", "kind": "condition"}, {"id": "done", "kind": "sleep"},
    ]
    assert {"source": "check", "target": "done", "kind": "then"} in template["graph"]["edges"]
    assert {"source": "ask", "target": "check", "kind": "depends_on"} in template["graph"]["edges"]
    assert body["data"]["workflowTemplateMermaid"].startswith("flowchart TD\n")
    assert body["data"]["missing"] is None


async def test_start_errors_have_codes(gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    unknown = await post(http, gateway, START, input={}, template="no-such")
    invalid = await post(http, gateway, START, input={"farm_id": 7})
    assert unknown["errors"][0]["extensions"]["code"] == "WORKFLOW_TEMPLATE_NOT_FOUND"
    assert "workflow template 'no-such' is not loaded" in unknown["errors"][0]["message"]
    assert invalid["errors"][0]["extensions"]["code"] == "WORKFLOW_INPUT_INVALID"
    assert invalid["errors"][0]["extensions"]["problems"] == ["farm_id: 7 is not of type 'string'"]


async def test_start_approve_and_stream(gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    started = (await post(http, gateway, START, input={"farm_id": "farm-001"}, key="feed-change-42"))["data"]
    again = (await post(http, gateway, START, input={"farm_id": "farm-001"}, key="feed-change-42"))["data"]
    run = started["startWorkflow"]
    assert again["startWorkflow"]["id"] == run["id"]
    assert run["status"] == "RUNNING"
    assert run["trigger"] == {"kind": "mutation"}

    waiting = (await post(http, gateway, RUN, id=run["id"]))["data"]["workflowRun"]
    ask = waiting["steps"][0]
    assert ask["status"] == "WAITING"
    assert ask["inputs"] == {"question": "Change feed at farm-001?"}

    subscription = GraphQLRequest(
        "subscription($id: ID!) { workflowRun(runId: $id) { runId stepId state } }", variable_values={"id": run["id"]}
    )
    ws_url = gateway.graphql_url.replace("http://", "ws://", 1)
    async with Client(transport=WebsocketsTransport(url=ws_url)) as session:
        before = workflow_subscribers(gateway)

        async def consume() -> list[dict[str, Any]]:
            stream = session.subscribe(subscription)
            return [item["workflowRun"] async for item in stream]

        consumer = asyncio.create_task(consume())
        await wait_for_subscribers(gateway, before + 1)
        wrong = await post(http, gateway, """
          mutation($id: ID!) { approveWorkflowStep(runId: $id, stepId: "check", actor: "ada") { id } }
        """, id=run["id"])
        approved = await post(http, gateway, """
          mutation($id: ID!) {
            approveWorkflowStep(runId: $id, stepId: "ask", actor: "ada", comment: "fine") { id }
          }
        """, id=run["id"])
        transitions = await asyncio.wait_for(consumer, 10)

    assert wrong["errors"][0]["extensions"]["code"] == "WORKFLOW_STATE_CONFLICT"
    assert "errors" not in approved
    assert {"runId": run["id"], "stepId": "ask", "state": "succeeded"} in transitions
    assert {"runId": run["id"], "stepId": "done", "state": "succeeded"} in transitions
    assert transitions[-1] == {"runId": run["id"], "stepId": None, "state": "succeeded"}

    done = (await post(http, gateway, RUN, id=run["id"]))["data"]["workflowRun"]
    steps = {step["id"]: step for step in done["steps"]}
    assert done["status"] == "SUCCEEDED"
    assert steps["ask"]["decision"]["actor"] == "ada"
    assert steps["check"]["output"] == {"result": True, "branch": "then"}
    assert steps["done"]["history"] == [{"attempt": 1}]


async def test_cancel_retry_and_list(gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    ids = [(await post(http, gateway, START, input={"farm_id": f"farm-00{i}"}))["data"]["startWorkflow"]["id"]
           for i in range(1, 4)]
    cancel = """
      mutation($id: ID!) { cancelWorkflowRun(id: $id, reason: "wrong farm") { status error { code message } } }
    """
    listing = """
      query($after: String) {
        workflowRuns(template: "approve-feed", statuses: [RUNNING], first: 2, after: $after) {
          edges { cursor node { id status steps { id } } }
          pageInfo { hasNextPage endCursor }
        }
      }
    """
    first_page = (await post(http, gateway, listing))["data"]["workflowRuns"]
    second_page = (await post(http, gateway, listing, after=first_page["pageInfo"]["endCursor"]))["data"]
    bad_cursor = await post(http, gateway, listing, after="not-a-cursor")

    cancelled = (await post(http, gateway, cancel, id=ids[0]))["data"]["cancelWorkflowRun"]
    twice = await post(http, gateway, cancel, id=ids[0])
    retry = await post(http, gateway, "mutation($id: ID!) { retryWorkflowRun(id: $id) { id } }", id=ids[0])
    missing = await post(http, gateway, cancel, id="run-none")
    for run_id in ids[1:]:
        await post(http, gateway, cancel, id=run_id)

    assert cancelled == {"status": "CANCELLED", "error": {"code": "WORKFLOW_CANCELLED", "message": "wrong farm"}}
    assert twice["errors"][0]["extensions"]["code"] == "WORKFLOW_STATE_CONFLICT"
    assert retry["errors"][0]["extensions"]["code"] == "WORKFLOW_STATE_CONFLICT"
    assert missing["errors"][0]["extensions"]["code"] == "WORKFLOW_RUN_NOT_FOUND"
    listed = [edge["node"]["id"] for edge in first_page["edges"]]
    assert listed == [ids[2], ids[1]]
    assert first_page["pageInfo"]["hasNextPage"] is True
    assert all(edge["node"]["steps"] == [] for edge in first_page["edges"])
    assert [edge["node"]["id"] for edge in second_page["workflowRuns"]["edges"]] == [ids[0]]
    assert second_page["workflowRuns"]["pageInfo"]["hasNextPage"] is False
    assert bad_cursor["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_failed_run_retried(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    write_template(tmp_path, "strict", """
        name: strict
        version: 1
        steps:
          - id: ask
            kind: approval
          - id: after
            kind: sleep
            depends_on: [ask]
            duration_s: 0.01
    """)
    async with serve_gateway(workflow_templates_dir=str(tmp_path)) as gateway:
        run = (await post(http, gateway, START, input={}, template="strict"))["data"]["startWorkflow"]
        await post(http, gateway, """
          mutation($id: ID!) { approveWorkflowStep(runId: $id, stepId: "ask", actor: "bo", approved: false) { id } }
        """, id=run["id"])
        failed: dict[str, Any] = {}

        async def run_failed() -> bool:
            failed.update((await post(http, gateway, RUN, id=run["id"]))["data"]["workflowRun"])
            return bool(failed["status"] == "FAILED")

        deadline = asyncio.get_running_loop().time() + 10
        while not await run_failed():
            assert asyncio.get_running_loop().time() < deadline, failed
            await asyncio.sleep(0.02)
        retried = (await post(http, gateway, "mutation($id: ID!) { retryWorkflowRun(id: $id) { status retries } }",
                              id=run["id"]))["data"]["retryWorkflowRun"]
    assert failed["error"]["code"] == "WORKFLOW_STEP_REJECTED"
    assert failed["error"]["stepId"] == "ask"
    assert failed["steps"][1]["skipReason"] == "a dependency failed or was cancelled"
    assert retried == {"status": "RUNNING", "retries": 1}


async def test_alert_response_end_to_end(http: aiohttp.ClientSession) -> None:
    # The shipped template, the embedded sandbox, POST /events and the acknowledgeAlert mutation.
    async with serve_gateway() as gateway:
        found = await post(http, gateway, "{ alerts(status: [OPEN], severity: [CRITICAL], first: 1) "
                                          "{ nodes { id farm { id } } } }")
        alert = found["data"]["alerts"]["nodes"][0]
        raised = {
            "specversion": "1.0", "id": f"evt-{alert['id']}", "source": "/tests/alerting",
            "type": "com.fishwatch.alert.raised", "farmid": alert["farm"]["id"], "time": "2026-12-04T06:00:00Z",
            "data": {"alertId": alert["id"], "severity": "critical", "message": "oxygen low"},
        }
        async with http.post(f"{gateway.url}/events", json=raised,
                             headers={"content-type": "application/cloudevents+json"}) as response:
            assert response.status == 202, await response.text()

        runs_query = '{ workflowRuns(template: "critical-alert-response") { nodes { id input } } }'
        runs: list[dict[str, Any]] = []
        deadline = asyncio.get_running_loop().time() + 10
        while not runs:
            assert asyncio.get_running_loop().time() < deadline, "the alert event started no run"
            runs = (await post(http, gateway, runs_query))["data"]["workflowRuns"]["nodes"]
            await asyncio.sleep(0.02)
        run_id = runs[0]["id"]

        run: dict[str, Any] = {}
        while not run or run["steps"][1]["status"] != "WAITING":
            assert asyncio.get_running_loop().time() < deadline + 10, run
            run = (await post(http, gateway, RUN, id=run_id))["data"]["workflowRun"]
            await asyncio.sleep(0.02)
        acknowledged = await post(http, gateway, """
          mutation($id: ID!) { acknowledgeAlert(id: $id, actor: "ingrid", note: "aerators on") { status } }
        """, id=alert["id"])
        while run["status"] != "SUCCEEDED":
            assert asyncio.get_running_loop().time() < deadline + 20, run
            run = (await post(http, gateway, RUN, id=run_id))["data"]["workflowRun"]
            await asyncio.sleep(0.02)

    steps = {step["id"]: step for step in run["steps"]}
    assert runs[0]["input"]["alert_id"] == alert["id"]
    assert runs[0]["input"]["farm_id"] == alert["farm"]["id"]
    assert acknowledged["data"]["acknowledgeAlert"]["status"] == "ACKNOWLEDGED"
    assert steps["wait_ack"]["output"]["received"] is True
    assert steps["escalate"]["status"] == "SKIPPED"
    assert steps["record"]["inputs"]["acknowledgedBy"] == "ingrid"
    assert steps["record"]["inputs"]["escalated"] is False

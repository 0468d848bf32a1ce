"""Workflow runs across tenants: another tenant's run is not found through every query and
mutation, and a run cannot be started for an invisible farm."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.auth.conftest import AuthGateway

WRITE = "workflows:read workflows:write"


async def token_for(gateway: AuthGateway, farms: list[str], scopes: str = WRITE) -> str:
    client = await gateway.register(scopes, farms=farms)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            gateway.token_url, data={"grant_type": "client_credentials"}, auth=(client.client_id, client.secret)
        )
    return str(response.json()["access_token"])


async def run(gateway: AuthGateway, token: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.post(
            f"{gateway.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


START = """mutation($input: JSON!) {
  startWorkflow(template: "critical-alert-response", input: $input) { id status }
}"""


def alert_input(farm: str) -> dict[str, Any]:
    return {"alert_id": f"alr-{uuid.uuid4().hex[:8]}", "farm_id": farm, "ack_deadline_s": 600}


@pytest.fixture(scope="module")
async def other_run(auth_gateway: AuthGateway) -> Any:
    """A waiting run of farm-016 started by that farm's tenant; cancelled at the end."""
    owner = await token_for(auth_gateway, ["farm-016"])
    body = await run(auth_gateway, owner, START, {"input": alert_input("farm-016")})
    run_id = body["data"]["startWorkflow"]["id"]
    yield run_id
    await run(auth_gateway, owner, "mutation($id: ID!) { cancelWorkflowRun(id: $id) { status } }", {"id": run_id})


@pytest.fixture(scope="module")
async def tenant(auth_gateway: AuthGateway) -> str:
    return await token_for(auth_gateway, ["farm-001"])


async def test_other_run_query_null(auth_gateway: AuthGateway, tenant: str, other_run: str):
    body = await run(auth_gateway, tenant, "query($id: ID!) { workflowRun(id: $id) { id } }", {"id": other_run})

    assert body["data"] == {"workflowRun": None}


async def test_other_run_not_listed(auth_gateway: AuthGateway, tenant: str, other_run: str):
    body = await run(auth_gateway, tenant, "{ workflowRuns(first: 200) { edges { node { id } } } }")

    assert other_run not in {edge["node"]["id"] for edge in body["data"]["workflowRuns"]["edges"]}


@pytest.mark.parametrize(
    "mutation",
    [
        'cancelWorkflowRun(id: $id, reason: "intruder") { id }',
        "retryWorkflowRun(id: $id) { id }",
        'approveWorkflowStep(runId: $id, stepId: "wait_ack", actor: "intruder") { id }',
    ],
)
async def test_other_run_mutation_not_found(auth_gateway: AuthGateway, tenant: str, other_run: str, mutation: str):
    body = await run(auth_gateway, tenant, f"mutation($id: ID!) {{ {mutation} }}", {"id": other_run})

    assert body["errors"][0]["extensions"]["code"] == "WORKFLOW_RUN_NOT_FOUND"
    assert other_run in body["errors"][0]["message"]


async def test_start_for_other_farm_rejected(auth_gateway: AuthGateway, tenant: str):
    body = await run(auth_gateway, tenant, START, {"input": alert_input("farm-016")})

    assert body["errors"][0]["message"] == "farm 'farm-016' not found"
    assert body["data"] is None


async def test_start_without_write_scope_forbidden(auth_gateway: AuthGateway):
    reader = await token_for(auth_gateway, ["farm-001"], "workflows:read")
    body = await run(auth_gateway, reader, START, {"input": alert_input("farm-001")})

    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["missing_scopes"] == ["workflows:write"]


async def test_own_run_visible(auth_gateway: AuthGateway, tenant: str):
    started = await run(auth_gateway, tenant, START, {"input": alert_input("farm-001")})
    run_id = started["data"]["startWorkflow"]["id"]
    seen = await run(auth_gateway, tenant, "query($id: ID!) { workflowRun(id: $id) { id } }", {"id": run_id})
    cancelled = await run(
        auth_gateway, tenant, "mutation($id: ID!) { cancelWorkflowRun(id: $id) { id } }", {"id": run_id}
    )

    assert seen["data"]["workflowRun"]["id"] == run_id
    assert cancelled["data"]["cancelWorkflowRun"]["id"] == run_id

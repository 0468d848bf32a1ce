"""Tenancy and scopes: a caller sees only its farms through every query and mutation path, and
another tenant's object is reported exactly like a missing one."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.auth.conftest import AuthGateway, find_alert
from tests.auth.idp import IdentityProvider, user_claims

MINE = {"farm-001", "farm-002"}
# Objects of farm-016 (organization org-02) in the sandbox data set (seed 7).
OTHER_FARM, OTHER_ENCLOSURE = "farm-016", "enc-016-01"
ALL_SCOPES = "farms:read alerts:read alerts:write devices:read catalog:read models:read forecasts:read"


async def token_for(gateway: AuthGateway, scopes: str = ALL_SCOPES, farms: list[str] | None = None) -> str:
    client = await gateway.register(scopes, farms=sorted(MINE) if farms is None else farms)
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


@pytest.fixture(scope="module")
async def tenant_token(auth_gateway: AuthGateway) -> str:
    return await token_for(auth_gateway)


async def test_farms_list_only_mine(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(auth_gateway, tenant_token, "{ farms(first: 200) { totalCount edges { node { id } } } }")

    assert {edge["node"]["id"] for edge in body["data"]["farms"]["edges"]} == MINE


async def test_farms_filters_keep_tenancy(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway, tenant_token, '{ farms(first: 50, organizationId: "org-02") { edges { node { id } } } }'
    )

    assert body["data"]["farms"]["edges"] == []


async def test_other_farm_is_null(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway,
        tenant_token,
        "query($a: ID!, $b: ID!) { a: farm(id: $a) { id } b: farm(id: $b) { id } }",
        {"a": OTHER_FARM, "b": "farm-001"},
    )

    assert body["data"] == {"a": None, "b": {"id": "farm-001"}}


async def test_other_enclosure_is_null(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway,
        tenant_token,
        "query($a: ID!, $b: ID!) { a: enclosure(id: $a) { id } b: enclosure(id: $b) { id } }",
        {"a": OTHER_ENCLOSURE, "b": "enc-001-01"},
    )

    assert body["data"] == {"a": None, "b": {"id": "enc-001-01"}}


async def test_alerts_only_mine(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway,
        tenant_token,
        "{ all: alerts(first: 200) { edges { node { farm { id } } } } "
        'other: alerts(farmId: "farm-016", first: 10) { edges { node { id } } } }',
    )

    farms = {edge["node"]["farm"]["id"] for edge in body["data"]["all"]["edges"]}
    assert farms and farms <= MINE
    assert body["data"]["other"]["edges"] == []


async def test_other_alert_is_null(auth_gateway: AuthGateway, tenant_token: str):
    other_alert, _ = await find_alert(auth_gateway, OTHER_FARM)
    body = await run(auth_gateway, tenant_token, f'{{ alert(id: "{other_alert}") {{ id }} }}')

    assert body["data"] == {"alert": None}
    assert "errors" not in body


async def test_devices_only_mine(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway,
        tenant_token,
        "{ all: devices(first: 200) { edges { node { farm { id } } } } "
        'other: devices(farmId: "farm-016", first: 10) { edges { node { id } } } }',
    )

    farms = {edge["node"]["farm"]["id"] for edge in body["data"]["all"]["edges"]}
    assert farms == MINE
    assert body["data"]["other"]["edges"] == []


async def test_aggregates_restricted_to_mine(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway,
        tenant_token,
        "{ all: readingAggregates(metric: TEMPERATURE, groupBy: FARM) { farmId } "
        'other: readingAggregates(metric: TEMPERATURE, groupBy: FARM, farmIds: ["farm-016"]) { farmId } '
        'mixed: readingAggregates(metric: TEMPERATURE, groupBy: FARM, farmIds: ["farm-016", "farm-001"]) { farmId } }',
    )

    assert {row["farmId"] for row in body["data"]["all"]} == MINE
    assert body["data"]["other"] == []
    assert {row["farmId"] for row in body["data"]["mixed"]} == {"farm-001"}


async def test_region_aggregates_count_only_mine(auth_gateway: AuthGateway, tenant_token: str):
    mine = await run(auth_gateway, tenant_token, "{ readingAggregates(metric: TEMPERATURE) { region count } }")
    everyone = await token_for(auth_gateway, farms=["*"])
    full = await run(auth_gateway, everyone, "{ readingAggregates(metric: TEMPERATURE) { region count } }")

    assert sum(row["count"] for row in mine["data"]["readingAggregates"]) < sum(
        row["count"] for row in full["data"]["readingAggregates"]
    )


async def test_forecast_other_enclosure_not_found(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(
        auth_gateway, tenant_token, f'{{ harvestForecast(enclosureId: "{OTHER_ENCLOSURE}") {{ enclosureId }} }}'
    )
    missing = await run(auth_gateway, tenant_token, '{ harvestForecast(enclosureId: "enc-999-99") { enclosureId } }')

    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert body["errors"][0]["message"] == f"enclosure '{OTHER_ENCLOSURE}' not found"
    assert missing["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_organizations_only_mine(auth_gateway: AuthGateway, tenant_token: str):
    body = await run(auth_gateway, tenant_token, "{ organizations { edges { node { id } } } }")

    assert [edge["node"]["id"] for edge in body["data"]["organizations"]["edges"]] == ["org-01"]


MUTATIONS = ["acknowledgeAlert", "resolveAlert"]


@pytest.mark.parametrize("mutation", MUTATIONS)
async def test_mutation_other_alert_not_found(auth_gateway: AuthGateway, tenant_token: str, mutation: str):
    other_alert, status_before = await find_alert(auth_gateway, OTHER_FARM)
    query = f'mutation($id: ID!) {{ {mutation}(id: $id, actor: "intruder") {{ id status }} }}'
    foreign = await run(auth_gateway, tenant_token, query, {"id": other_alert})
    missing = await run(auth_gateway, tenant_token, query, {"id": "alr-999999"})
    everyone = await token_for(auth_gateway, farms=["*"])
    after = await run(auth_gateway, everyone, f'{{ alert(id: "{other_alert}") {{ status }} }}')

    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert foreign["errors"][0]["message"] == f"alert '{other_alert}' not found"
    assert missing["errors"][0]["message"] == "alert 'alr-999999' not found"
    assert after["data"]["alert"]["status"] == status_before


async def test_mutation_own_alert_allowed(auth_gateway: AuthGateway, tenant_token: str):
    # Resolving a resolved alert is a no-op, so the shared sandbox stays as it was.
    resolved, _ = await find_alert(auth_gateway, "farm-001", "RESOLVED")
    body = await run(
        auth_gateway, tenant_token, f'mutation {{ resolveAlert(id: "{resolved}", actor: "ops") {{ status }} }}'
    )

    assert body["data"]["resolveAlert"]["status"] == "RESOLVED"


async def test_mutation_without_write_scope_forbidden(auth_gateway: AuthGateway):
    token = await token_for(auth_gateway, "farms:read alerts:read")
    resolved, _ = await find_alert(auth_gateway, "farm-001", "RESOLVED")
    body = await run(auth_gateway, token, f'mutation {{ resolveAlert(id: "{resolved}", actor: "ops") {{ status }} }}')

    assert body["data"] == {"resolveAlert": None}
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert body["errors"][0]["extensions"]["missing_scopes"] == ["alerts:write"]


async def test_nested_field_needs_its_scope(auth_gateway: AuthGateway):
    token = await token_for(auth_gateway, "farms:read")
    body = await run(auth_gateway, token, '{ farm(id: "farm-001") { id activeAlertCount devices { id } } }')

    assert body["data"]["farm"] == {"id": "farm-001", "activeAlertCount": None, "devices": None}
    assert sorted(error["extensions"]["missing_scopes"][0] for error in body["errors"]) == [
        "alerts:read",
        "devices:read",
    ]


async def test_client_without_farms_sees_nothing(auth_gateway: AuthGateway):
    token = await token_for(auth_gateway, farms=[])
    body = await run(
        auth_gateway,
        token,
        "{ farms(first: 10) { edges { node { id } } } alerts(first: 5) { edges { node { id } } } "
        'farm(id: "farm-001") { id } readingAggregates(metric: TEMPERATURE) { count } }',
    )

    assert body["data"] == {"farms": {"edges": []}, "alerts": {"edges": []}, "farm": None, "readingAggregates": []}


async def test_user_by_organization_claim(idp_gateway: AuthGateway, idp: IdentityProvider):
    token = idp.keys[0].token(user_claims(farms=None, org=["org-02"]))
    body = await run(
        idp_gateway,
        token,
        '{ farms(first: 200) { edges { node { id organization { id } } } } farm(id: "farm-001") { id } }',
    )

    organizations = {edge["node"]["organization"]["id"] for edge in body["data"]["farms"]["edges"]}
    assert organizations == {"org-02"}
    assert OTHER_FARM in {edge["node"]["id"] for edge in body["data"]["farms"]["edges"]}
    assert body["data"]["farm"] is None


async def test_user_without_tenancy_claims_sees_nothing(idp_gateway: AuthGateway, idp: IdentityProvider):
    token = idp.keys[0].token(user_claims(farms=None))
    body = await run(idp_gateway, token, "{ farms(first: 10) { edges { node { id } } } }")

    assert body["data"]["farms"]["edges"] == []

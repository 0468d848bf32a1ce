"""The farm overview's upstream calls: as many for 1 farm as for 50, and none the caller may not read."""

from __future__ import annotations

from tests.conftest import post_graphql, subsystem_settings
from tests.gateway_process import serve_gateway

OVERVIEW = """
query Overview($first: Int!) {
  farms(first: $first) {
    edges { node {
      id name region enclosureCount fishCount activeAlertCount
      organization { name }
      enclosures(first: 20) { nodes {
        id name fishCount stocks { species count }
        latestReadings { metric value unit time }
        activeAlerts { id severity metric value }
      } }
    } }
  }
}
"""


async def upstream_calls(gateway, http, farms: int) -> tuple[int, int]:
    connectors = gateway.services.connectors.all()
    before = sum(connector.stats.requests for connector in connectors)
    status, body = await post_graphql(http, gateway.graphql_url, OVERVIEW, {"first": farms})
    assert status == 200
    assert "errors" not in body
    returned = len(body["data"]["farms"]["edges"])
    return sum(connector.stats.requests for connector in connectors) - before, returned


async def test_overview_calls_do_not_grow_with_farms(sandbox_urls, http):
    # One upstream page holds every item of 50 farms, so page counts do not blur the comparison.
    settings = {**subsystem_settings(sandbox_urls), "upstream_page_size": 1000}
    async with serve_gateway(**settings) as gateway:
        calls_one, farms_one = await upstream_calls(gateway, http, 1)
        calls_fifty, farms_fifty = await upstream_calls(gateway, http, 50)

    assert farms_one == 1
    assert farms_fifty == 50
    assert calls_fifty == calls_one
    assert calls_one <= 7


async def test_overview_skips_unreadable_alerts(sandbox_urls, http):
    # A caller without alerts:read gets FORBIDDEN on the alert fields; their data is not fetched ahead.
    settings = {**subsystem_settings(sandbox_urls), "auth_anonymous_scopes": ["farms:read"]}
    async with serve_gateway(**settings) as gateway:
        alerting = gateway.services.connectors.alerting
        before = alerting.stats.requests
        status, body = await post_graphql(http, gateway.graphql_url, OVERVIEW, {"first": 3})
        after = alerting.stats.requests

    assert status == 200
    farms = body["data"]["farms"]["edges"]
    assert len(farms) == 3
    assert all(edge["node"]["fishCount"] > 0 for edge in farms)
    assert all(edge["node"]["activeAlertCount"] is None for edge in farms)
    codes = {error["extensions"]["code"] for error in body["errors"]}
    assert codes == {"FORBIDDEN"}
    assert {tuple(error["path"][-1:]) for error in body["errors"]} == {("activeAlertCount",), ("activeAlerts",)}
    assert after == before

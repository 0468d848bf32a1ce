from tests.conftest import post_graphql


async def test_farm_overview_returns_live_data(gateway, http):
    status, body = await post_graphql(
        http, gateway.graphql_url,
        "{ farms(first: 3) { edges { node { id name enclosureCount fishCount "
        "enclosures(first: 1) { nodes { latestReadings { metric value unit } } } } } } }",
    )
    assert status == 200
    assert "errors" not in body
    farms = [edge["node"] for edge in body["data"]["farms"]["edges"]]
    assert len(farms) == 3
    assert all(farm["enclosureCount"] > 0 for farm in farms)
    assert all(farm["fishCount"] > 0 for farm in farms)

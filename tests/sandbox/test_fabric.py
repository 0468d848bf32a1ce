from __future__ import annotations

import aiohttp

from sandbox.server import SandboxUrls


async def post_json(
    http: aiohttp.ClientSession, url: str, body: object, headers: dict | None = None
) -> tuple[int, dict]:
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_datasets_have_lineage(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{urls.fabric}/v1/datasets") as response:
        body = await response.json()
    datasets = {dataset["id"]: dataset for dataset in body["items"]}
    assert len(datasets) == 8
    for dataset in datasets.values():
        for upstream_id in dataset["upstream_ids"]:
            assert upstream_id in datasets
    assert datasets["ds-water-quality-daily"]["upstream_ids"] == ["ds-water-quality-hourly"]


async def test_dataset_not_found(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{urls.fabric}/v1/datasets/ds-nope") as response:
        assert response.status == 404
        assert (await response.json())["error"]["message"] == "dataset 'ds-nope' not found"


async def test_aggregate_by_region_and_day(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {
        "metric": "temperature",
        "function": "mean",
        "group_by": ["region", "day"],
        "from": "2026-11-17T00:00:00Z",
        "to": "2026-11-19T00:00:00Z",
        "regions": ["scotland", "chile-south"],
    }
    status, result = await post_json(http, f"{urls.fabric}/v1/aggregates", body)
    assert status == 200
    keys = [(item["region"], item["day"]) for item in result["items"]]
    assert keys == [
        ("chile-south", "2026-11-17"),
        ("chile-south", "2026-11-18"),
        ("scotland", "2026-11-17"),
        ("scotland", "2026-11-18"),
    ]
    for item in result["items"]:
        assert 4 <= item["value"] <= 16
        assert item["count"] > 1000


async def test_aggregate_min_below_max(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    base = {
        "metric": "dissolved_oxygen",
        "group_by": ["farm_id", "day"],
        "from": "2026-11-18T00:00:00Z",
        "to": "2026-11-19T00:00:00Z",
        "farm_ids": ["farm-001"],
    }
    results = {}
    for function in ("min", "mean", "max"):
        status, result = await post_json(http, f"{urls.fabric}/v1/aggregates", base | {"function": function})
        assert status == 200
        results[function] = result["items"][0]["value"]
    assert results["min"] <= results["mean"] <= results["max"]


async def test_aggregate_bad_group(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {
        "metric": "ph",
        "function": "mean",
        "group_by": ["country"],
        "from": "2026-11-18T00:00:00Z",
        "to": "2026-11-19T00:00:00Z",
    }
    status, error = await post_json(http, f"{urls.fabric}/v1/aggregates", body)
    assert status == 400
    assert error["error"]["message"] == "field 'group_by': 'country' is not one of: region, farm_id, day"


async def test_export_idempotent(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {
        "dataset_id": "ds-water-readings-raw",
        "from": "2026-11-19T00:00:00Z",
        "to": "2026-11-20T00:00:00Z",
        "farm_ids": ["farm-001"],
    }
    headers = {"Idempotency-Key": "export-farm-001"}
    status, created = await post_json(http, f"{urls.fabric}/v1/exports", body, headers)
    assert status == 201
    status, replayed = await post_json(http, f"{urls.fabric}/v1/exports", body, headers)
    assert status == 200
    assert replayed == created
    assert created["uri"].endswith(f"{created['id']}.parquet")
    assert created["row_count"] > 0


async def test_export_missing_field(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, error = await post_json(
        http, f"{urls.fabric}/v1/exports", {"dataset_id": "ds-harvest-history", "to": "2026-11-20T00:00:00Z"}
    )
    assert status == 400
    assert "field 'from'" in error["error"]["message"]

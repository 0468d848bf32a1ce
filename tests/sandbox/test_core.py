from __future__ import annotations

import aiohttp

from sandbox.server import SandboxUrls


async def get_json(http: aiohttp.ClientSession, url: str, params: object = None) -> tuple[int, dict]:
    async with http.get(url, params=params) as response:
        return response.status, await response.json()


async def test_healthz_on_every_subsystem(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    for base in (urls.core, urls.acquisition, urls.fabric, urls.alerting, urls.mlflow):
        status, body = await get_json(http, f"{base}/healthz")
        assert status == 200
        assert body == {"status": "ok"}


async def test_farms_paged_with_cursor(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "25"} | ({"cursor": cursor} if cursor else {})
        status, body = await get_json(http, f"{urls.core}/v1/farms", params)
        assert status == 200
        seen.extend(farm["id"] for farm in body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages >= 3
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert seen[0] == "farm-001"
    assert len([farm_id for farm_id in seen if farm_id <= "farm-060"]) == 60


async def test_farm_fields_realistic(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/farms", {"region": "chile-south", "limit": "1000"})
    assert status == 200
    assert body["items"]
    for farm in body["items"]:
        assert farm["region"] == "chile-south"
        assert -46 < farm["latitude"] < -41
        assert farm["created_at"].endswith("Z")


async def test_farms_filtered_by_repeated_ids(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = [("id", "farm-003"), ("id", "farm-001"), ("id", "farm-999")]
    status, body = await get_json(http, f"{urls.core}/v1/farms", params)
    assert status == 200
    assert [farm["id"] for farm in body["items"]] == ["farm-001", "farm-003"]
    assert body["next_cursor"] is None


async def test_enclosures_of_two_farms_paged(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = [("farm_id", "farm-001"), ("farm_id", "farm-002"), ("limit", "3")]
    status, first = await get_json(http, f"{urls.core}/v1/enclosures", params)
    assert status == 200
    assert len(first["items"]) == 3
    status, second = await get_json(http, f"{urls.core}/v1/enclosures", [*params, ("cursor", first["next_cursor"])])
    assert status == 200
    assert second["items"][0]["id"] > first["items"][-1]["id"]
    assert {e["farm_id"] for e in first["items"] + second["items"]} <= {"farm-001", "farm-002"}


async def test_farm_not_found_body(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/farms/farm-999")
    assert status == 404
    assert body == {"error": {"code": "NOT_FOUND", "message": "farm 'farm-999' not found"}}


async def test_bad_limit_rejected(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    for limit in ("0", "1001", "ten"):
        status, body = await get_json(http, f"{urls.core}/v1/farms", {"limit": limit})
        assert status == 400
        assert body["error"]["code"] == "INVALID_ARGUMENT"
        assert "limit" in body["error"]["message"]


async def test_bad_cursor_rejected(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/farms", {"cursor": "not-a-cursor"})
    assert status == 400
    assert "cursor" in body["error"]["message"]


async def test_cursor_bound_to_filters(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, first = await get_json(http, f"{urls.core}/v1/farms", {"limit": "2"})
    assert status == 200
    params = {"limit": "2", "region": "scotland", "cursor": first["next_cursor"]}
    status, body = await get_json(http, f"{urls.core}/v1/farms", params)
    assert status == 400
    assert "different query" in body["error"]["message"]


async def test_unknown_region_lists_allowed(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/farms", {"region": "iceland"})
    assert status == 400
    assert body["error"]["message"] == (
        "region 'iceland' is not one of: norway-west, norway-north, scotland, chile-south, canada-east"
    )


async def test_unknown_parameter_rejected(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/farms", {"farmid": "farm-001"})
    assert status == 400
    assert "'farmid'" in body["error"]["message"]


async def test_request_id_echoed(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    for path in ("/v1/organizations", "/v1/farms/farm-999"):
        async with http.get(f"{urls.core}{path}", headers={"X-Request-ID": "req-42"}) as response:
            assert response.headers["X-Request-ID"] == "req-42"


async def test_stocks_realistic(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/stocks", {"limit": "1000"})
    assert status == 200
    enclosures = {}
    status, listing = await get_json(http, f"{urls.core}/v1/enclosures", {"limit": "1000"})
    for enclosure in listing["items"]:
        enclosures[enclosure["id"]] = enclosure
    assert len(body["items"]) >= 300
    for stock in body["items"]:
        assert 100 <= stock["mean_weight_g"] <= 5200
        if enclosures[stock["enclosure_id"]]["kind"] == "sea_pen":
            assert 10_000 <= stock["count"] <= 200_000


async def test_harvests_ordered_by_date(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {"from": "2025-06-01", "to": "2026-05-31", "limit": "1000"}
    status, body = await get_json(http, f"{urls.core}/v1/harvests", params)
    assert status == 200
    dates = [harvest["date"] for harvest in body["items"]]
    assert dates
    assert dates == sorted(dates)
    assert "2025-06-01" <= dates[0]
    assert dates[-1] <= "2026-05-31"
    for harvest in body["items"]:
        assert abs(harvest["total_weight_kg"] - harvest["quantity"] * harvest["mean_weight_g"] / 1000) < 1


async def test_harvests_bad_date_rejected(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/harvests", {"from": "2026-13-01"})
    assert status == 400
    assert body["error"]["message"].startswith("from '2026-13-01'")


async def test_thresholds_by_farm(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.core}/v1/thresholds", {"farm_id": "farm-001", "limit": "1000"})
    assert status == 200
    pairs = {(t["enclosure_id"], t["metric"], t["severity"]) for t in body["items"]}
    assert ("enc-001-01", "dissolved_oxygen", "critical") in pairs
    for threshold in body["items"]:
        assert threshold["enclosure_id"].startswith("enc-001-")
        assert threshold["min"] < threshold["max"]


async def test_create_farm_idempotent(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {
        "organization_id": "org-03",
        "name": "Loch Nevis",
        "region": "scotland",
        "latitude": 57.0,
        "longitude": -5.7,
    }
    headers = {"Idempotency-Key": "create-loch-nevis"}
    async with http.post(f"{urls.core}/v1/farms", json=body, headers=headers) as response:
        assert response.status == 201
        created = await response.json()
    async with http.post(f"{urls.core}/v1/farms", json=body, headers=headers) as response:
        assert response.status == 200
        replayed = await response.json()
    assert replayed == created
    status, listing = await get_json(http, f"{urls.core}/v1/farms", {"organization_id": "org-03", "limit": "1000"})
    assert status == 200
    assert [farm["name"] for farm in listing["items"]].count("Loch Nevis") == 1

    changed = body | {"name": "Loch Hourn"}
    async with http.post(f"{urls.core}/v1/farms", json=changed, headers=headers) as response:
        assert response.status == 409
        assert (await response.json())["error"]["code"] == "CONFLICT"


async def test_create_farm_invalid_field(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {"organization_id": "org-01", "name": "Nowhere", "region": "norway-west", "latitude": 123, "longitude": 5}
    async with http.post(f"{urls.core}/v1/farms", json=body) as response:
        assert response.status == 400
        message = (await response.json())["error"]["message"]
    assert "'latitude'" in message


async def test_create_enclosure_unknown_farm(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {"farm_id": "farm-999", "name": "Pen 01", "kind": "sea_pen", "volume_m3": 30000}
    async with http.post(f"{urls.core}/v1/enclosures", json=body) as response:
        assert response.status == 404
        assert await response.json() == {"error": {"code": "NOT_FOUND", "message": "farm 'farm-999' not found"}}


async def test_create_enclosure_numbered_per_farm(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, listing = await get_json(http, f"{urls.core}/v1/enclosures", {"farm_id": "farm-010"})
    assert status == 200
    last = max(int(e["id"].rsplit("-", 1)[1]) for e in listing["items"])
    body = {"farm_id": "farm-010", "name": "Pen 99", "kind": "sea_pen", "volume_m3": 42000}
    async with http.post(f"{urls.core}/v1/enclosures", json=body) as response:
        assert response.status == 201
        created = await response.json()
    assert created["id"] == f"enc-010-{last + 1:02d}"
    assert created["created_at"] >= "2026-11-20T06:00:00Z"

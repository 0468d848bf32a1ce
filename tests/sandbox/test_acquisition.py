from __future__ import annotations

from datetime import datetime

import aiohttp

from sandbox.server import SandboxUrls

READINGS_RANGES = {
    "ph": (7.0, 8.4),
    "temperature": (2.0, 19.0),
    "salinity": (28.0, 36.0),
    "dissolved_oxygen": (3.0, 12.0),
}


async def get_json(http: aiohttp.ClientSession, url: str, params: object = None) -> tuple[int, dict]:
    async with http.get(url, params=params) as response:
        return response.status, await response.json()


def seconds(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp())


async def test_raw_readings_paged(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {
        "enclosure_id": "enc-001-01",
        "metric": "temperature",
        "from": "2026-11-19T00:00:00Z",
        "to": "2026-11-20T00:00:00Z",
    }
    status, first = await get_json(http, f"{urls.acquisition}/v1/readings", params | {"limit": "100"})
    assert status == 200
    assert first["unit"] == "degC"
    assert len(first["items"]) == 100
    status, second = await get_json(
        http, f"{urls.acquisition}/v1/readings", params | {"limit": "100", "cursor": first["next_cursor"]}
    )
    assert status == 200
    assert second["next_cursor"] is None
    times = [item["time"] for item in first["items"] + second["items"]]
    assert len(times) == 144
    assert times[0] == "2026-11-19T00:00:00Z"
    assert times[-1] == "2026-11-19T23:50:00Z"
    for item in first["items"] + second["items"]:
        assert 2 <= item["value"] <= 19


async def test_readings_in_realistic_ranges(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    for metric, (low, high) in READINGS_RANGES.items():
        params = {"enclosure_id": "enc-002-01", "metric": metric, "limit": "1000"}
        status, body = await get_json(http, f"{urls.acquisition}/v1/readings", params)
        assert status == 200
        values = [item["value"] for item in body["items"]]
        assert values, metric
        assert low <= min(values), metric
        assert max(values) <= high, metric


async def test_readings_buckets_aligned(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {
        "enclosure_id": "enc-001-03",
        "metric": "dissolved_oxygen",
        "from": "2026-11-18T00:20:00Z",
        "to": "2026-11-19T00:00:00Z",
        "interval_s": "3600",
    }
    status, body = await get_json(http, f"{urls.acquisition}/v1/readings", params)
    assert status == 200
    assert body["unit"] == "mg/L"
    assert "next_cursor" not in body
    buckets = body["items"]
    assert len(buckets) == 24
    assert buckets[0]["bucket_start"] == "2026-11-18T00:00:00Z"
    assert buckets[0]["count"] == 4
    for bucket in buckets:
        assert seconds(bucket["bucket_start"]) % 3600 == 0
        assert bucket["min"] <= bucket["mean"] <= bucket["max"]
        assert 1 <= bucket["count"] <= 6
    assert sum(bucket["count"] for bucket in buckets[1:]) == 23 * 6


async def test_buckets_match_raw_readings(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    window = {
        "enclosure_id": "enc-003-01",
        "metric": "ph",
        "from": "2026-11-19T06:00:00Z",
        "to": "2026-11-19T08:00:00Z",
    }
    status, raw = await get_json(http, f"{urls.acquisition}/v1/readings", window)
    status, buckets = await get_json(http, f"{urls.acquisition}/v1/readings", window | {"interval_s": "7200"})
    assert status == 200
    values = [item["value"] for item in raw["items"]]
    assert buckets["items"] == [
        {
            "bucket_start": "2026-11-19T06:00:00Z",
            "min": min(values),
            "max": max(values),
            "mean": round(sum(values) / len(values), 3),
            "count": 12,
        }
    ]


async def test_too_many_buckets_rejected(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {
        "enclosure_id": "enc-001-01",
        "metric": "ph",
        "from": "2026-01-01T00:00:00Z",
        "to": "2026-11-20T00:00:00Z",
        "interval_s": "60",
    }
    status, body = await get_json(http, f"{urls.acquisition}/v1/readings", params)
    assert status == 400
    assert "at most 10000" in body["error"]["message"]


async def test_readings_bad_parameters(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    cases = [
        ({"enclosure_id": "enc-001-01", "metric": "turbidity"}, "metric 'turbidity' is not one of: ph, temperature"),
        ({"metric": "ph"}, "'enclosure_id' is required"),
        ({"enclosure_id": "enc-001-01", "metric": "ph", "from": "yesterday"}, "from 'yesterday' is not an RFC 3339"),
        ({"enclosure_id": "enc-001-01", "metric": "ph", "interval_s": "30"}, "interval_s 30 is out of range"),
        (
            {
                "enclosure_id": "enc-001-01",
                "metric": "ph",
                "from": "2026-11-19T00:00:00Z",
                "to": "2026-11-18T00:00:00Z",
            },
            "must be before",
        ),
    ]
    for params, expected in cases:
        status, body = await get_json(http, f"{urls.acquisition}/v1/readings", params)
        assert status == 400, params
        assert body["error"]["code"] == "INVALID_ARGUMENT"
        assert expected in body["error"]["message"], body


async def test_readings_unknown_enclosure(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(
        http, f"{urls.acquisition}/v1/readings", {"enclosure_id": "enc-999-01", "metric": "ph"}
    )
    assert status == 404
    assert body["error"]["message"] == "enclosure 'enc-999-01' not found"


async def test_latest_one_per_metric(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.acquisition}/v1/readings/latest", [("farm_id", "farm-001")])
    assert status == 200
    keys = [(item["enclosure_id"], item["metric"]) for item in body["items"]]
    assert len(keys) == len(set(keys))
    enclosures = {enclosure_id for enclosure_id, _ in keys}
    for enclosure_id in enclosures:
        assert sum(1 for e, _ in keys if e == enclosure_id) <= 4
    online = [item for item in body["items"] if item["time"] == "2026-11-20T05:50:00Z"]
    assert online
    item = online[0]
    params = {"enclosure_id": item["enclosure_id"], "metric": item["metric"], "from": "2026-11-20T05:50:00Z"}
    status, raw = await get_json(http, f"{urls.acquisition}/v1/readings", params)
    assert raw["items"] == [{"time": item["time"], "value": item["value"]}]


async def test_freshwater_has_no_salinity(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, enclosures = await get_json(http, f"{urls.core}/v1/enclosures", {"limit": "1000"})
    tank = next(e for e in enclosures["items"] if e["kind"] == "tank")
    status, body = await get_json(http, f"{urls.acquisition}/v1/readings/latest", {"enclosure_id": tank["id"]})
    assert status == 200
    metrics = {item["metric"] for item in body["items"]}
    assert "salinity" not in metrics


async def test_devices_filtered_by_status(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = [("status", "offline"), ("status", "degraded"), ("kind", "water_monitor"), ("limit", "1000")]
    status, body = await get_json(http, f"{urls.acquisition}/v1/devices", params)
    assert status == 200
    assert body["items"]
    for device in body["items"]:
        assert device["status"] in ("offline", "degraded")
        assert device["kind"] == "water_monitor"


async def test_offline_monitor_stops_reporting(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {"status": "offline", "kind": "water_monitor", "limit": "1"}
    status, body = await get_json(http, f"{urls.acquisition}/v1/devices", params)
    device = body["items"][0]
    status, latest = await get_json(
        http, f"{urls.acquisition}/v1/readings/latest", {"enclosure_id": device["enclosure_id"]}
    )
    assert status == 200
    assert {item["time"] for item in latest["items"]} == {device["last_contact_at"]}
    assert device["last_contact_at"] < "2026-11-20T05:50:00Z"


async def test_device_status_unknown(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.acquisition}/v1/devices", {"status": "broken"})
    assert status == 400
    assert body["error"]["message"] == "status 'broken' is not one of: online, offline, degraded, maintenance"


async def test_create_device_idempotent(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    body = {"farm_id": "farm-002", "name": "Pen 20", "kind": "sea_pen", "volume_m3": 30000}
    async with http.post(f"{urls.core}/v1/enclosures", json=body) as response:
        enclosure = await response.json()
    device_body = {
        "farm_id": "farm-002",
        "enclosure_id": enclosure["id"],
        "kind": "camera",
        "model": "PenView C-200",
        "serial": "PV200-TEST-1",
    }
    headers = {"Idempotency-Key": "camera-for-new-pen"}
    async with http.post(f"{urls.acquisition}/v1/devices", json=device_body, headers=headers) as response:
        assert response.status == 201
        created = await response.json()
    async with http.post(f"{urls.acquisition}/v1/devices", json=device_body, headers=headers) as response:
        assert response.status == 200
        assert await response.json() == created
    assert created["status"] == "offline"
    assert created["last_contact_at"] is None
    assert created["id"] == f"dev-{enclosure['id'][4:]}-cam"
    async with http.post(f"{urls.acquisition}/v1/devices", json=device_body) as response:
        assert response.status == 409


async def test_observations_newest_first_paged(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = [("farm_id", "farm-001"), ("limit", "7")]
    status, first = await get_json(http, f"{urls.acquisition}/v1/observations", params)
    assert status == 200
    status, second = await get_json(
        http, f"{urls.acquisition}/v1/observations", [*params, ("cursor", first["next_cursor"])]
    )
    items = first["items"] + second["items"]
    keys = [(-seconds(item["time"]), item["enclosure_id"]) for item in items]
    assert keys == sorted(keys)
    assert len({item["id"] for item in items}) == 14
    assert items[0]["time"] == "2026-11-20T00:00:00Z"
    for item in items:
        assert 0 <= item["activity_index"] <= 1
        assert item["parasite_count"] >= 0
        assert seconds(item["time"]) % 21600 == 0

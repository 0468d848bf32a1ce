from __future__ import annotations

import aiohttp
import pytest

from sandbox.server import SandboxUrls

API = "/api/2.0/mlflow"


async def get_json(http: aiohttp.ClientSession, url: str, params: object = None) -> tuple[int, dict]:
    async with http.get(url, params=params) as response:
        return response.status, await response.json()


async def post_json(http: aiohttp.ClientSession, url: str, body: object) -> tuple[int, dict]:
    async with http.post(url, json=body) as response:
        return response.status, await response.json()


async def test_search_models_paged(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, first = await get_json(http, f"{urls.mlflow}{API}/registered-models/search", {"max_results": "1"})
    assert status == 200
    assert [m["name"] for m in first["registered_models"]] == ["harvest-forecast"]
    params = {"max_results": "1", "page_token": first["next_page_token"]}
    status, second = await get_json(http, f"{urls.mlflow}{API}/registered-models/search", params)
    assert [m["name"] for m in second["registered_models"]] == ["lice-outbreak-risk"]


async def test_get_model_shape(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.mlflow}{API}/registered-models/get", {"name": "harvest-forecast"})
    assert status == 200
    model = body["registered_model"]
    assert model["aliases"] == [{"alias": "challenger", "version": "4"}, {"alias": "champion", "version": "3"}]
    assert isinstance(model["creation_timestamp"], int)
    assert model["creation_timestamp"] > 1_600_000_000_000
    stages = {v["current_stage"]: v["version"] for v in model["latest_versions"]}
    assert stages == {"Archived": "2", "Production": "3", "Staging": "4"}


async def test_alias_and_run(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {"name": "harvest-forecast", "alias": "champion"}
    status, body = await get_json(http, f"{urls.mlflow}{API}/registered-models/alias", params)
    assert status == 200
    version = body["model_version"]
    assert version["version"] == "3"
    assert version["aliases"] == ["champion"]
    assert version["status"] == "READY"
    status, body = await get_json(http, f"{urls.mlflow}{API}/runs/get", {"run_id": version["run_id"]})
    assert status == 200
    run = body["run"]
    assert run["info"]["run_id"] == version["run_id"]
    metrics = {metric["key"]: metric for metric in run["data"]["metrics"]}
    assert set(metrics) == {"rmse", "mae", "r2"}
    assert 0 < metrics["r2"]["value"] < 1
    assert {"key": "model_type", "value": "thermal_growth"} in run["data"]["params"]


async def test_model_versions_search(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    params = {"filter": "name='harvest-forecast'", "max_results": "10"}
    status, body = await get_json(http, f"{urls.mlflow}{API}/model-versions/search", params)
    assert status == 200
    assert [v["version"] for v in body["model_versions"]] == ["4", "3", "2", "1"]
    assert body["next_page_token"] is None


async def test_missing_model_error(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, body = await get_json(http, f"{urls.mlflow}{API}/registered-models/get", {"name": "nope"})
    assert status == 404
    assert body["error_code"] == "RESOURCE_DOES_NOT_EXIST"


async def test_invocations_predict_growth(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    frame = {
        "columns": ["species", "fish_count", "mean_weight_g", "mean_temperature_c", "days_ahead"],
        "data": [["atlantic_salmon", 150000, 2000.0, 10.0, 90], ["atlantic_salmon", 150000, 2000.0, 10.0, 0]],
    }
    status, body = await post_json(http, f"{urls.mlflow}/invocations", {"dataframe_split": frame})
    assert status == 200
    grown, same = body["predictions"]
    assert same == 2000.0
    # Champion (version 3): TGC 2.9, growth 4 % slower per 100,000 fish, over 900 degree-days.
    expected = (2000 ** (1 / 3) + 2.9 / 1000 * 900 * (1 - 0.04 * 1.5)) ** 3
    assert grown == pytest.approx(expected, abs=0.1)


async def test_invocations_bad_input(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    frame = {"columns": ["species", "fish_count"], "data": [["atlantic_salmon", 1000]]}
    status, body = await post_json(http, f"{urls.mlflow}/invocations", {"dataframe_split": frame})
    assert status == 400
    assert body["error_code"] == "BAD_REQUEST"
    assert "mean_weight_g" in body["message"]
    frame = {
        "columns": ["species", "fish_count", "mean_weight_g", "mean_temperature_c", "days_ahead"],
        "data": [["tilapia", 1000, 500, 10, 30]],
    }
    status, body = await post_json(http, f"{urls.mlflow}/invocations", {"dataframe_split": frame})
    assert status == 400
    assert "species 'tilapia'" in body["message"]


async def test_tracking_write_flow(urls: SandboxUrls, http: aiohttp.ClientSession) -> None:
    status, created = await post_json(http, f"{urls.mlflow}{API}/experiments/create", {"name": "retrain-test"})
    assert status == 200
    status, found = await get_json(
        http, f"{urls.mlflow}{API}/experiments/get-by-name", {"experiment_name": "retrain-test"}
    )
    assert found["experiment"]["experiment_id"] == created["experiment_id"]

    status, run = await post_json(http, f"{urls.mlflow}{API}/runs/create", {"experiment_id": created["experiment_id"]})
    run_id = run["run"]["info"]["run_id"]
    batch = {
        "run_id": run_id,
        "metrics": [{"key": "rmse", "value": 199.5, "timestamp": 1, "step": 0}],
        "params": [{"key": "tgc_cod", "value": "1.6"}],
    }
    status, _ = await post_json(http, f"{urls.mlflow}{API}/runs/log-batch", batch)
    assert status == 200

    await post_json(http, f"{urls.mlflow}{API}/registered-models/create", {"name": "retrain-test-model"})
    status, version = await post_json(
        http,
        f"{urls.mlflow}{API}/model-versions/create",
        {"name": "retrain-test-model", "source": "s3://m", "run_id": run_id},
    )
    assert version["model_version"]["version"] == "1"
    alias = {"name": "retrain-test-model", "alias": "champion", "version": "1"}
    status, _ = await post_json(http, f"{urls.mlflow}{API}/registered-models/alias", alias)
    assert status == 200

    status, body = await get_json(http, f"{urls.mlflow}{API}/runs/get", {"run_id": run_id})
    assert body["run"]["data"]["metrics"] == [{"key": "rmse", "value": 199.5, "timestamp": 1, "step": 0}]
    status, again = await post_json(http, f"{urls.mlflow}{API}/experiments/create", {"name": "retrain-test"})
    assert status == 400
    assert again["error_code"] == "RESOURCE_ALREADY_EXISTS"

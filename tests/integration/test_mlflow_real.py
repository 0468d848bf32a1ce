"""The dashboard's view of ML Ops through the gateway, with a real `mlflow server` behind it.

The registry is filled through MLflow's own REST API, as a training pipeline would fill it, and
every assertion reads the gateway's GraphQL responses. Core, acquisition, fabric and alerting stay
on the sandbox.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sandbox.server import SandboxUrls
from tests.conftest import post_graphql, subsystem_settings
from tests.gateway_process import RunningGateway, serve_gateway
from tests.mlflow_peer import MlflowServer, free_loopback_port, run_mlflow_server, stop_process_group

HARVEST_MODEL = "harvest-forecast"
HARVEST_DESCRIPTION = "Mean weight per fish from species, stock size and water temperature."
LICE_MODEL = "lice-outbreak-risk"
LICE_DESCRIPTION = "Registered before its first training run."
EXPERIMENT = "harvest-forecast-training"
RUN_START_MS = 1_790_000_000_000
FINAL_STEP = 50
CHAMPION_VERSION = "2"
CHALLENGER_VERSION = "3"
# MLflow's search filters unescape nothing, so names with quote characters need other quoting.
QUOTED_MODELS = ("salmon's growth", 'salmon\'s "tuned" growth')


@dataclass(frozen=True)
class TrainingRun:
    """One training run: its params and the final rmse and mae it logs."""

    name: str
    params: dict[str, str]
    rmse: float
    mae: float


TRAINING_RUNS = (
    TrainingRun("tgc-one-year", {"model_type": "thermal_growth", "training_window_days": "365"}, 312.4, 241.0),
    TrainingRun("tgc-two-years", {"model_type": "thermal_growth", "training_window_days": "730"}, 254.9, 198.3),
    TrainingRun("tgc-three-years", {"model_type": "thermal_growth", "training_window_days": "1095"}, 231.7, 180.2),
)


@dataclass(frozen=True)
class SeededRegistry:
    """Ids MLflow assigned while seeding. `run_ids[i]` produced model version i + 1."""

    experiment_id: str
    run_ids: list[str]


class MlflowRest:
    """MLflow REST API 2.0 calls, made the way a training pipeline makes them."""

    def __init__(self, session: aiohttp.ClientSession, server: MlflowServer) -> None:
        self.session = session
        self.server = server

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.server.api_url}/{path}", json=body) as response:
            payload = await response.json(content_type=None)
            assert response.status == 200, f"POST {path} {body} returned {response.status}: {payload}"
            return dict(payload)

    async def get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        async with self.session.get(f"{self.server.api_url}/{path}", params=params) as response:
            payload = await response.json(content_type=None)
            assert response.status == 200, f"GET {path} {params} returned {response.status}: {payload}"
            return dict(payload)


def metric_time_ms(run_index: int, step: int) -> int:
    return RUN_START_MS + run_index * 3_600_000 + step * 1000


def iso_from_ms(value_ms: int) -> str:
    """Format a timestamp the way the gateway's DateTime scalar does."""
    return dt.datetime.fromtimestamp(value_ms / 1000, dt.UTC).isoformat()


async def seed_registry(rest: MlflowRest) -> SeededRegistry:
    """Create the experiment, one finished run per TRAINING_RUNS entry, both models and the aliases."""
    created = await rest.post("experiments/create", {"name": EXPERIMENT})
    experiment_id = str(created["experiment_id"])

    run_ids = []
    for index, plan in enumerate(TRAINING_RUNS):
        run = await rest.post(
            "runs/create",
            {"experiment_id": experiment_id, "run_name": plan.name, "start_time": metric_time_ms(index, 0)},
        )
        run_id = str(run["run"]["info"]["run_id"])
        # An early rmse point at step 0, so the run's latest value must come from the final step.
        metrics = [
            {"key": "rmse", "value": plan.rmse * 3, "timestamp": metric_time_ms(index, 0), "step": 0},
            {"key": "rmse", "value": plan.rmse, "timestamp": metric_time_ms(index, FINAL_STEP), "step": FINAL_STEP},
            {"key": "mae", "value": plan.mae, "timestamp": metric_time_ms(index, FINAL_STEP), "step": FINAL_STEP},
        ]
        params = [{"key": key, "value": value} for key, value in plan.params.items()]
        await rest.post("runs/log-batch", {"run_id": run_id, "metrics": metrics, "params": params})
        await rest.post(
            "runs/update",
            {"run_id": run_id, "status": "FINISHED", "end_time": metric_time_ms(index, FINAL_STEP + 1)},
        )
        run_ids.append(run_id)

    await rest.post("registered-models/create", {"name": HARVEST_MODEL, "description": HARVEST_DESCRIPTION})
    for run_id in run_ids:
        version = await rest.post(
            "model-versions/create", {"name": HARVEST_MODEL, "source": f"runs:/{run_id}/model", "run_id": run_id}
        )
        assert version["model_version"]["status"] == "READY"
    await rest.post(
        "registered-models/alias", {"name": HARVEST_MODEL, "alias": "champion", "version": CHAMPION_VERSION}
    )
    await rest.post(
        "registered-models/alias", {"name": HARVEST_MODEL, "alias": "challenger", "version": CHALLENGER_VERSION}
    )
    await rest.post("registered-models/create", {"name": LICE_MODEL, "description": LICE_DESCRIPTION})
    for name in QUOTED_MODELS:
        await rest.post("registered-models/create", {"name": name})
        await rest.post(
            "model-versions/create", {"name": name, "source": f"runs:/{run_ids[0]}/model", "run_id": run_ids[0]}
        )
    return SeededRegistry(experiment_id=experiment_id, run_ids=run_ids)


def gateway_settings(sandbox_urls: SandboxUrls, mlflow_url: str, **overrides: Any) -> dict[str, Any]:
    """Point a gateway at the sandbox and at `mlflow_url`, open to anonymous callers.

    With explicit subsystem URLs the gateway requires tokens by default. These tests are about
    what MLflow's data becomes, so they run as an anonymous caller with every scope.
    """
    return {**subsystem_settings(sandbox_urls), "mlflow_url": mlflow_url, "auth_anonymous": "on", **overrides}


@pytest.fixture(scope="module")
async def registry(mlflow_server: MlflowServer, http: aiohttp.ClientSession) -> SeededRegistry:
    return await seed_registry(MlflowRest(http, mlflow_server))


@pytest.fixture(scope="module")
async def mlflow_gateway(
    sandbox_urls: SandboxUrls, mlflow_server: MlflowServer, registry: SeededRegistry
) -> AsyncIterator[RunningGateway]:
    async with serve_gateway(**gateway_settings(sandbox_urls, mlflow_server.url)) as running:
        yield running


async def query_data(http: aiohttp.ClientSession, gateway: RunningGateway, query: str) -> dict[str, Any]:
    """POST a query that must succeed and return its `data`."""
    status, body = await post_graphql(http, gateway.graphql_url, query)
    assert "errors" not in body, body["errors"]
    assert status == 200
    return dict(body["data"])


VERSIONS_QUERY = """
{
  model(name: "harvest-forecast") {
    versions(first: 10) {
      nodes {
        modelName version status runId aliases createdAt
        metrics { key value step loggedAt }
        params { key value }
      }
    }
  }
}
"""


@pytest.mark.mlflow
async def test_models_lists_registry(mlflow_gateway, http):
    data = await query_data(
        http, mlflow_gateway, "{ models(first: 10) { nodes { name description } pageInfo { hasNextPage } } }"
    )

    # MLflow lists registered models by name; the quoted names sort after the others.
    assert data["models"]["nodes"] == [
        {"name": HARVEST_MODEL, "description": HARVEST_DESCRIPTION},
        {"name": LICE_MODEL, "description": LICE_DESCRIPTION},
        {"name": QUOTED_MODELS[1], "description": None},
        {"name": QUOTED_MODELS[0], "description": None},
    ]
    assert data["models"]["pageInfo"]["hasNextPage"] is False


@pytest.mark.mlflow
async def test_models_pages_with_mlflow_tokens(mlflow_gateway, http):
    query = (
        "query($after: String) { models(first: 1, after: $after) "
        "{ nodes { name } pageInfo { hasNextPage endCursor } } }"
    )

    status, first = await post_graphql(http, mlflow_gateway.graphql_url, query, {"after": None})
    assert status == 200
    assert "errors" not in first
    assert [node["name"] for node in first["data"]["models"]["nodes"]] == [HARVEST_MODEL]
    assert first["data"]["models"]["pageInfo"]["hasNextPage"] is True

    cursor = first["data"]["models"]["pageInfo"]["endCursor"]
    status, second = await post_graphql(http, mlflow_gateway.graphql_url, query, {"after": cursor})
    assert status == 200
    assert "errors" not in second
    assert [node["name"] for node in second["data"]["models"]["nodes"]] == [LICE_MODEL]
    assert second["data"]["models"]["pageInfo"]["hasNextPage"] is True


@pytest.mark.mlflow
async def test_model_returns_aliases(mlflow_gateway, http):
    data = await query_data(
        http,
        mlflow_gateway,
        '{ model(name: "harvest-forecast") { name description createdAt updatedAt aliases { alias version } } }',
    )

    model = data["model"]
    assert model["name"] == HARVEST_MODEL
    assert model["description"] == HARVEST_DESCRIPTION
    assert sorted(model["aliases"], key=lambda item: item["alias"]) == [
        {"alias": "challenger", "version": CHALLENGER_VERSION},
        {"alias": "champion", "version": CHAMPION_VERSION},
    ]
    assert dt.datetime.fromisoformat(model["createdAt"]) <= dt.datetime.fromisoformat(model["updatedAt"])


@pytest.mark.mlflow
async def test_model_versions_newest_first(mlflow_gateway, http, registry):
    data = await query_data(http, mlflow_gateway, VERSIONS_QUERY)
    versions = data["model"]["versions"]["nodes"]

    assert [version["version"] for version in versions] == ["3", "2", "1"]
    assert [version["runId"] for version in versions] == list(reversed(registry.run_ids))
    assert {version["modelName"] for version in versions} == {HARVEST_MODEL}
    assert {version["status"] for version in versions} == {"READY"}
    assert all(version["createdAt"] for version in versions)


@pytest.mark.mlflow
async def test_model_versions_carry_aliases(mlflow_gateway, http):
    data = await query_data(http, mlflow_gateway, VERSIONS_QUERY)
    aliases = {version["version"]: version["aliases"] for version in data["model"]["versions"]["nodes"]}

    assert aliases == {"3": ["challenger"], "2": ["champion"], "1": []}


@pytest.mark.mlflow
async def test_model_versions_run_metrics(mlflow_gateway, http):
    data = await query_data(http, mlflow_gateway, VERSIONS_QUERY)
    by_version = {version["version"]: version for version in data["model"]["versions"]["nodes"]}

    for index, plan in enumerate(TRAINING_RUNS):
        version = by_version[str(index + 1)]
        metrics = {metric["key"]: metric for metric in version["metrics"]}
        assert sorted(metrics) == ["mae", "rmse"]
        # The latest rmse point wins over the step-0 point logged with three times the value.
        assert metrics["rmse"]["value"] == pytest.approx(plan.rmse)
        assert metrics["rmse"]["step"] == FINAL_STEP
        assert metrics["rmse"]["loggedAt"] == iso_from_ms(metric_time_ms(index, FINAL_STEP))
        assert metrics["mae"]["value"] == pytest.approx(plan.mae)
        params = {param["key"]: param["value"] for param in version["params"]}
        assert params == plan.params


@pytest.mark.mlflow
async def test_model_version_by_alias(mlflow_gateway, http, registry):
    data = await query_data(
        http,
        mlflow_gateway,
        '{ model(name: "harvest-forecast") { '
        'champion: versionByAlias(alias: "champion") { version runId aliases metrics { key value } } '
        'challenger: versionByAlias(alias: "challenger") { version } '
        'retired: versionByAlias(alias: "retired") { version } } }',
    )

    model = data["model"]
    assert model["champion"]["version"] == CHAMPION_VERSION
    assert model["champion"]["runId"] == registry.run_ids[1]
    assert model["champion"]["aliases"] == ["champion"]
    assert {metric["key"]: metric["value"] for metric in model["champion"]["metrics"]} == pytest.approx(
        {"rmse": TRAINING_RUNS[1].rmse, "mae": TRAINING_RUNS[1].mae}
    )
    assert model["challenger"]["version"] == CHALLENGER_VERSION
    assert model["retired"] is None


@pytest.mark.mlflow
async def test_model_latest_version(mlflow_gateway, http, registry):
    data = await query_data(
        http, mlflow_gateway, '{ model(name: "harvest-forecast") { latestVersion { version runId aliases } } }'
    )

    assert data["model"]["latestVersion"] == {
        "version": "3",
        "runId": registry.run_ids[2],
        "aliases": ["challenger"],
    }


@pytest.mark.mlflow
async def test_model_without_versions(mlflow_gateway, http):
    data = await query_data(
        http,
        mlflow_gateway,
        '{ model(name: "lice-outbreak-risk") { name aliases { alias } versions { nodes { version } } '
        'latestVersion { version } versionByAlias(alias: "champion") { version } } }',
    )

    assert data["model"] == {
        "name": LICE_MODEL,
        "aliases": [],
        "versions": {"nodes": []},
        "latestVersion": None,
        "versionByAlias": None,
    }


@pytest.mark.mlflow
@pytest.mark.parametrize("name", QUOTED_MODELS)
async def test_model_versions_quoted_name(mlflow_gateway, http, registry, name):
    status, body = await post_graphql(
        http,
        mlflow_gateway.graphql_url,
        "query($name: String!) { model(name: $name) { name versions { nodes { modelName version runId } } } }",
        {"name": name},
    )

    assert status == 200
    assert "errors" not in body
    assert body["data"]["model"] == {
        "name": name,
        "versions": {"nodes": [{"modelName": name, "version": "1", "runId": registry.run_ids[0]}]},
    }


@pytest.mark.mlflow
async def test_model_missing_is_null(mlflow_gateway, http):
    status, body = await post_graphql(http, mlflow_gateway.graphql_url, '{ model(name: "missing") { name } }')

    assert status == 200
    assert "errors" not in body
    assert body["data"] == {"model": None}


@pytest.mark.mlflow
async def test_readiness_probes_mlflow_health(mlflow_gateway, http):
    async with http.get(f"{mlflow_gateway.url}/readyz") as response:
        body = await response.json()

    assert body["subsystems"]["mlflow"]["status"] == "ok"


async def first_enclosure_id(http: aiohttp.ClientSession, gateway: RunningGateway) -> str:
    data = await query_data(http, gateway, "{ farms(first: 1) { nodes { enclosures(first: 1) { nodes { id } } } } }")
    return str(data["farms"]["nodes"][0]["enclosures"]["nodes"][0]["id"])


async def sandbox_champion_version(http: aiohttp.ClientSession, sandbox_urls: SandboxUrls) -> str:
    url = f"{sandbox_urls.mlflow}/api/2.0/mlflow/registered-models/alias"
    async with http.get(url, params={"name": HARVEST_MODEL, "alias": "champion"}) as response:
        body = await response.json()
    return str(body["model_version"]["version"])


@pytest.mark.mlflow
async def test_harvest_forecast_uses_real_champion(sandbox_urls, mlflow_server, registry, http):
    # Real MLflow serves no /invocations, so the sandbox's scoring endpoint stands in for model
    # serving while the champion version comes from the real registry.
    assert await sandbox_champion_version(http, sandbox_urls) != CHAMPION_VERSION, (
        "the sandbox's champion must differ from the real one for this test to tell them apart"
    )
    settings = gateway_settings(sandbox_urls, mlflow_server.url, mlflow_serving_url=sandbox_urls.mlflow)
    async with serve_gateway(**settings) as gateway:
        enclosure_id = await first_enclosure_id(http, gateway)
        data = await query_data(
            http,
            gateway,
            f'{{ harvestForecast(enclosureId: "{enclosure_id}", horizonDays: 14, stepDays: 7) '
            "{ enclosureId modelName modelVersion points { daysAhead predictedMeanWeightG } } }",
        )

    forecast = data["harvestForecast"]
    assert forecast["enclosureId"] == enclosure_id
    assert forecast["modelName"] == HARVEST_MODEL
    assert forecast["modelVersion"] == CHAMPION_VERSION
    assert {point["daysAhead"] for point in forecast["points"]} == {7, 14}
    assert all(point["predictedMeanWeightG"] > 0 for point in forecast["points"])


@pytest.mark.mlflow
async def test_harvest_forecast_alias_missing(sandbox_urls, mlflow_server, registry, http):
    settings = gateway_settings(
        sandbox_urls, mlflow_server.url, mlflow_serving_url=sandbox_urls.mlflow, forecast_model_alias="retired"
    )
    async with serve_gateway(**settings) as gateway:
        enclosure_id = await first_enclosure_id(http, gateway)
        status, body = await post_graphql(
            http, gateway.graphql_url, f'{{ harvestForecast(enclosureId: "{enclosure_id}") {{ modelVersion }} }}'
        )

    assert status == 200
    assert body["data"] == {"harvestForecast": None}
    [error] = body["errors"]
    assert error["path"] == ["harvestForecast"]
    assert error["extensions"]["code"] == "NOT_FOUND"
    assert error["extensions"]["subsystem"] == "mlflow"
    assert "no alias 'retired'" in error["message"]


MODELS_AND_ORGANIZATIONS = "{ models(first: 5) { nodes { name } } organizations { nodes { name } } }"


def assert_models_unavailable(body: dict[str, Any], organizations: dict[str, Any]) -> None:
    """Check that only `models` failed, with UPSTREAM_UNAVAILABLE from mlflow, and organizations resolved."""
    assert body["data"]["models"] is None
    assert body["data"]["organizations"] == organizations
    [error] = body["errors"]
    assert error["path"] == ["models"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["subsystem"] == "mlflow"


@pytest.mark.mlflow
async def test_stopped_mlflow_is_unavailable(sandbox_urls, mlflow_executable, tmp_path: Path, http):
    async with run_mlflow_server(tmp_path / "mlflow", executable=mlflow_executable) as server:
        async with serve_gateway(**gateway_settings(sandbox_urls, server.url)) as gateway:
            before = await query_data(http, gateway, MODELS_AND_ORGANIZATIONS)
            assert before["models"]["nodes"] == []
            organizations = before["organizations"]
            assert organizations["nodes"]

            await asyncio.to_thread(stop_process_group, server.process)
            status, body = await post_graphql(http, gateway.graphql_url, MODELS_AND_ORGANIZATIONS)
            async with http.get(f"{gateway.url}/readyz") as response:
                readiness_status = response.status
                readiness = await response.json()

    assert status == 200
    assert_models_unavailable(body, organizations)
    assert readiness_status == 503
    assert readiness["subsystems"]["mlflow"]["status"] == "unavailable"
    assert readiness["subsystems"]["core"]["status"] == "ok"


async def test_unreachable_mlflow_is_unavailable(sandbox_urls, http):
    # Nothing listens on this port: the gateway starts anyway and reports MLflow per field.
    settings = gateway_settings(sandbox_urls, f"http://127.0.0.1:{free_loopback_port()}")
    async with serve_gateway(**settings) as gateway:
        organizations = (await query_data(http, gateway, "{ organizations { nodes { name } } }"))["organizations"]
        status, body = await post_graphql(http, gateway.graphql_url, MODELS_AND_ORGANIZATIONS)

    assert status == 200
    assert_models_unavailable(body, organizations)

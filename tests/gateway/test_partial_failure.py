"""One subsystem down, slow or broken: its fields are null with coded errors; the rest resolves."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator

import pytest

from tests.conftest import post_graphql, subsystem_settings
from tests.gateway_process import serve_gateway
from tests.upstream_fakes import FlakySubsystem

OVERVIEW = """
{
  farms(first: 3) {
    edges { node { id name fishCount activeAlertCount
      enclosures(first: 2) { nodes { id latestReadings { metric value } activeAlerts { id } } } } }
  }
}
"""


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
async def flaky_alerting(sandbox_urls) -> AsyncIterator[FlakySubsystem]:
    flaky = FlakySubsystem(target=sandbox_urls.alerting)
    await flaky.start()
    yield flaky
    await flaky.close()


def errors_at(body: dict, field: str) -> list[dict]:
    return [error for error in body.get("errors", []) if error["path"][-1] == field]


async def test_alerting_down_nulls_only_alert_fields(sandbox_urls, http):
    settings = {**subsystem_settings(sandbox_urls), "alerting_url": closed_port_url(), "upstream_max_attempts": 2}
    async with serve_gateway(**settings) as gateway:
        status, body = await post_graphql(http, gateway.graphql_url, OVERVIEW)

    assert status == 200
    farms = [edge["node"] for edge in body["data"]["farms"]["edges"]]
    assert len(farms) == 3
    assert all(farm["activeAlertCount"] is None for farm in farms)
    assert all(farm["fishCount"] > 0 for farm in farms)
    assert all(len(farm["enclosures"]["nodes"][0]["latestReadings"]) == 4 for farm in farms)
    alert_errors = errors_at(body, "activeAlertCount")
    assert len(alert_errors) == 3
    assert alert_errors[0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert alert_errors[0]["extensions"]["subsystem"] == "alerting"
    assert alert_errors[0]["path"] == ["farms", "edges", 0, "node", "activeAlertCount"]
    enclosure_errors = errors_at(body, "activeAlerts")
    assert len(enclosure_errors) == 6
    assert enclosure_errors[0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert all(enclosure["activeAlerts"] is None for farm in farms for enclosure in farm["enclosures"]["nodes"])


async def test_slow_subsystem_times_out_within_deadline(sandbox_urls, http, flaky_alerting):
    flaky_alerting.mode = "slow"
    settings = {
        **subsystem_settings(sandbox_urls),
        "alerting_url": flaky_alerting.url,
        "upstream_timeout_s": 0.3,
        "upstream_max_attempts": 3,
        "upstream_backoff_base_s": 0.05,
        "request_timeout_s": 1.0,
    }
    async with serve_gateway(**settings) as gateway:
        started = time.perf_counter()
        status, body = await post_graphql(http, gateway.graphql_url, OVERVIEW)
        elapsed = time.perf_counter() - started

    assert status == 200
    assert elapsed < 1.5
    farms = [edge["node"] for edge in body["data"]["farms"]["edges"]]
    assert all(farm["fishCount"] > 0 for farm in farms)
    alert_errors = errors_at(body, "activeAlertCount")
    assert alert_errors
    assert {error["extensions"]["code"] for error in alert_errors} == {"UPSTREAM_TIMEOUT"}


@pytest.mark.parametrize("mode", ["garbage", "wrong_shape"])
async def test_garbage_answer_is_bad_response(sandbox_urls, http, flaky_alerting, mode):
    flaky_alerting.mode = mode
    settings = {**subsystem_settings(sandbox_urls), "alerting_url": flaky_alerting.url}
    async with serve_gateway(**settings) as gateway:
        status, body = await post_graphql(http, gateway.graphql_url, OVERVIEW)
        _, again = await post_graphql(http, gateway.graphql_url, "{ farms(first: 1) { edges { node { id } } } }")

    assert status == 200
    farms = [edge["node"] for edge in body["data"]["farms"]["edges"]]
    assert all(farm["name"] for farm in farms)
    alert_errors = errors_at(body, "activeAlertCount")
    assert alert_errors[0]["extensions"]["code"] == "UPSTREAM_BAD_RESPONSE"
    assert alert_errors[0]["extensions"]["subsystem"] == "alerting"
    assert "invalid payload" in alert_errors[0]["message"]
    assert again["data"]["farms"]["edges"][0]["node"]["id"] == "farm-001"


async def test_server_error_is_retried_then_unavailable(sandbox_urls, http, flaky_alerting):
    flaky_alerting.mode = "error"
    settings = {
        **subsystem_settings(sandbox_urls),
        "alerting_url": flaky_alerting.url,
        "upstream_max_attempts": 3,
        "upstream_backoff_base_s": 0.01,
    }
    async with serve_gateway(**settings) as gateway:
        status, body = await post_graphql(http, gateway.graphql_url, "{ alerts(first: 5) { edges { node { id } } } }")

    assert status == 200
    assert body["data"] == {"alerts": None}
    error = body["errors"][0]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["status"] == 500
    assert "database down" in error["message"]
    assert flaky_alerting.requests == 3


async def test_open_circuit_stops_calling_subsystem(sandbox_urls, http, flaky_alerting):
    flaky_alerting.mode = "error"
    settings = {
        **subsystem_settings(sandbox_urls),
        "alerting_url": flaky_alerting.url,
        "upstream_max_attempts": 1,
        "breaker_failure_threshold": 2,
        "breaker_reset_s": 60,
    }
    query = "{ alerts(first: 5) { edges { node { id } } } }"
    async with serve_gateway(**settings) as gateway:
        for _ in range(2):
            await post_graphql(http, gateway.graphql_url, query)
        calls_before = flaky_alerting.requests
        _, body = await post_graphql(http, gateway.graphql_url, query)

    assert flaky_alerting.requests == calls_before
    assert body["errors"][0]["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["reason"] == "circuit_open"

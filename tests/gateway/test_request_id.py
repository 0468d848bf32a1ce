"""The request id reaches every upstream call of the request and every log line."""

from __future__ import annotations

import logging

from tests.conftest import subsystem_settings
from tests.gateway_process import serve_gateway
from tests.upstream_fakes import FlakySubsystem


async def test_request_id_forwarded_and_logged(sandbox_urls, http, caplog):
    flaky = FlakySubsystem(target=sandbox_urls.alerting)
    await flaky.start()
    try:
        settings = {**subsystem_settings(sandbox_urls), "alerting_url": flaky.url}
        async with serve_gateway(**settings) as gateway:
            with caplog.at_level(logging.INFO, logger="connectors.base"):
                async with http.post(
                    gateway.graphql_url,
                    json={"query": "{ farms(first: 2) { edges { node { activeAlertCount } } } }"},
                    headers={"X-Request-ID": "dash-42.7"},
                ) as response:
                    echoed = response.headers["X-Request-ID"]
                    body = await response.json()
    finally:
        await flaky.close()

    assert echoed == "dash-42.7"
    assert "errors" not in body
    assert flaky.request_ids == ["dash-42.7"]
    upstream_lines = [record for record in caplog.records if record.getMessage().startswith("upstream alerting")]
    assert len(upstream_lines) == 1
    assert upstream_lines[0].request_id == "dash-42.7"

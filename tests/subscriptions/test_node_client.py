"""Subscriptions driven by the npm `graphql-ws` client, as a browser dashboard would use them."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.gateway_process import RunningGateway
from tests.subscriptions.conftest import alert_event, post_event, ws_url

pytestmark = pytest.mark.node

JS_DIR = Path(__file__).resolve().parents[1] / "js"


def node_or_skip() -> str:
    node = shutil.which("node")
    installed = (JS_DIR / "node_modules" / "graphql-ws").is_dir()
    if node is not None and installed:
        return node
    message = "node or tests/js/node_modules is missing; run `npm ci --prefix tests/js`"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


async def run_client(gateway: RunningGateway, query: str, variables: dict[str, Any], count: int) -> list[dict]:
    process = await asyncio.create_subprocess_exec(
        node_or_skip(),
        str(JS_DIR / "subscribe.mjs"),
        ws_url(gateway),
        query,
        json.dumps(variables),
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=JS_DIR,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    lines = [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]
    assert lines, stderr.decode()
    return lines


async def test_graphql_ws_receives_replay_and_live(bus_gateway: RunningGateway, http: aiohttp.ClientSession) -> None:
    start = await post_event(http, bus_gateway, alert_event("before"))
    replayed = await post_event(http, bus_gateway, alert_event("replayed", severity="info"))
    query = 'subscription($after: String) { alerts(farmId: "farm-001", after: $after) { alertId severity position } }'
    client = asyncio.ensure_future(run_client(bus_gateway, query, {"after": start}, 2))
    live = await post_event(http, bus_gateway, alert_event("live"))
    lines = await client
    assert lines[0] == {"connected": True}
    assert lines[1:] == [
        {"next": {"data": {"alerts": {"alertId": "replayed", "severity": "INFO", "position": replayed}}}},
        {"next": {"data": {"alerts": {"alertId": "live", "severity": "WARNING", "position": live}}}},
    ]


async def test_graphql_ws_error_has_code(bus_gateway: RunningGateway) -> None:
    query = 'subscription { alerts(after: "1-0") { alertId } }'
    lines = await run_client(bus_gateway, query, {}, 1)
    assert lines[0] == {"connected": True}
    # An error raised while the subscription starts arrives as a result with errors and no data.
    result = lines[1]["next"]
    assert result["data"] is None
    assert result["errors"][0]["extensions"]["code"] == "RESUME_POSITION_EXPIRED"
    assert result["errors"][0]["extensions"]["oldest_position"] == "none"

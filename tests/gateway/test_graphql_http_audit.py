"""The graphql-http server audits (GraphQL over HTTP draft conformance) against a served gateway."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest

JS_DIR = Path(__file__).resolve().parents[1] / "js"
AUDIT_SCRIPT = JS_DIR / "audit.mjs"
AUDIT_TIMEOUT_S = 120.0


def node_or_skip() -> str:
    """Return the node executable; fail under CI and skip elsewhere when it or the npm packages are missing."""
    node = shutil.which("node")
    if node is None:
        reason = "node is not installed; install Node.js 18 or later, then run `npm ci` in tests/js"
    elif not (JS_DIR / "node_modules" / "graphql-http").is_dir():
        reason = "tests/js/node_modules/graphql-http is missing; run `npm ci` in tests/js"
    else:
        return node
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.mark.node
async def test_audit_all_ok(gateway):
    node = node_or_skip()

    # An asyncio subprocess keeps the event loop free, because the gateway is served on this loop.
    process = await asyncio.create_subprocess_exec(
        node,
        str(AUDIT_SCRIPT),
        "--json",
        gateway.graphql_url,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), AUDIT_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"the audit did not finish within {AUDIT_TIMEOUT_S} s")
    assert process.returncode in (0, 1), f"audit.mjs could not run: {stderr.decode(errors='replace')}"

    results = json.loads(stdout)
    failures = [
        f"{result['id']} {result['name']}: {result['status']} (HTTP {result['responseStatus']}) {result['reason']}"
        for result in results
        if result["status"] != "ok"
    ]
    assert len(results) > 50, f"expected the full list of server audits, got {len(results)}"
    assert failures == [], "audits not ok:\n" + "\n".join(failures)
    assert process.returncode == 0

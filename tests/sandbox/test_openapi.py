from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from sandbox import acquisition, alerting, core, fabric
from sandbox.data import build_dataset

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api"
APPS = {
    "core": core.create_app,
    "acquisition": acquisition.create_app,
    "fabric": fabric.create_app,
    "alerting": alerting.create_app,
}


def served_operations(app: web.Application) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if path.startswith("/v1") and route.method != "HEAD":
            operations.add((path, route.method.lower()))
    return operations


@pytest.mark.parametrize("name", sorted(APPS))
def test_document_covers_routes(name: str) -> None:
    document = yaml.safe_load((DOCS / f"{name}.openapi.yaml").read_text())
    assert document["openapi"].startswith("3.1")
    documented = {
        (path, method) for path, item in document["paths"].items() for method in item if method != "parameters"
    }
    app = APPS[name](build_dataset())
    missing = served_operations(app) - documented
    assert not missing


@pytest.mark.parametrize("name", sorted(APPS))
def test_document_refs_resolve(name: str) -> None:
    text = (DOCS / f"{name}.openapi.yaml").read_text()
    document = yaml.safe_load(text)
    for ref in set(re.findall(r"\$ref: '#/components/(\w+)/(\w+)'", text)):
        assert ref[1] in document["components"][ref[0]], ref

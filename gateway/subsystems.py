"""Building the connectors from settings, with the embedded sandbox for subsystems left unset."""

from __future__ import annotations

import logging
from typing import Any

from connectors.acquisition import AcquisitionConnector
from connectors.alerting import AlertingConnector
from connectors.base import Connector, ConnectorConfig
from connectors.core import CoreConnector
from connectors.fabric import FabricConnector
from connectors.mlops import MlopsConnector
from connectors.registry import Connectors
from gateway.settings import Settings

logger = logging.getLogger(__name__)


async def start_sandbox_if_needed(settings: Settings) -> tuple[Any, dict[str, str]]:
    """Start the sandbox when a subsystem has no URL; return it (or None) and the URL of every subsystem."""
    urls = {name: settings.subsystem_url(name) for name in ("core", "acquisition", "fabric", "alerting", "mlflow")}
    missing = settings.missing_subsystems()
    if not missing:
        return None, {name: url for name, url in urls.items() if url is not None}

    from sandbox.server import Sandbox

    sandbox = Sandbox(host=settings.sandbox_host, base_port=settings.sandbox_base_port, seed=settings.sandbox_seed)
    sandbox_urls = await sandbox.start()
    for name in missing:
        urls[name] = getattr(sandbox_urls, name)
        logger.warning(
            "no URL for subsystem %s: serving it from the embedded sandbox at %s; "
            "set FISHWATCH_%s_URL to use a real one",
            name,
            urls[name],
            name.upper(),
        )
    return sandbox, {name: url for name, url in urls.items() if url is not None}


def _config(settings: Settings, name: str, base_url: str, auth_setting: str) -> ConnectorConfig:
    return ConnectorConfig(
        name=name,
        base_url=base_url,
        auth_header=settings.subsystem_auth_header(auth_setting),
        connect_timeout_s=settings.upstream_connect_timeout_s,
        timeout_s=settings.upstream_timeout_s,
        max_attempts=settings.upstream_max_attempts,
        backoff_base_s=settings.upstream_backoff_base_s,
        backoff_max_s=settings.upstream_backoff_max_s,
        pool_size=settings.upstream_pool_size,
        max_response_bytes=settings.upstream_max_response_bytes,
        breaker_failure_threshold=settings.breaker_failure_threshold,
        breaker_reset_s=settings.breaker_reset_s,
    )


def build_connectors(settings: Settings, urls: dict[str, str]) -> Connectors:
    paging = {"page_size": settings.upstream_page_size, "max_items": settings.upstream_max_items}
    serving_url = settings.subsystem_url("mlflow_serving") or urls["mlflow"]
    serving = Connector(_config(settings, "mlflow-serving", serving_url, "mlflow"))
    return Connectors(
        core=CoreConnector(_config(settings, "core", urls["core"], "core"), **paging),
        acquisition=AcquisitionConnector(
            _config(settings, "acquisition", urls["acquisition"], "acquisition"), **paging
        ),
        fabric=FabricConnector(_config(settings, "fabric", urls["fabric"], "fabric"), **paging),
        alerting=AlertingConnector(_config(settings, "alerting", urls["alerting"], "alerting"), **paging),
        mlops=MlopsConnector(_config(settings, "mlflow", urls["mlflow"], "mlflow"), serving=serving),
    )

"""Fixtures for tests against real peers: an `mlflow server` started once per session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.mlflow_peer import MlflowServer, require_mlflow_executable, run_mlflow_server


@pytest.fixture(scope="session")
def mlflow_executable() -> str:
    """The `mlflow` executable; skips the test, or fails it under CI=true, when none is installed."""
    return require_mlflow_executable()


@pytest.fixture(scope="session")
async def mlflow_server(
    mlflow_executable: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[MlflowServer]:
    """A real MLflow tracking server and model registry on loopback, empty at start."""
    async with run_mlflow_server(tmp_path_factory.mktemp("mlflow"), executable=mlflow_executable) as server:
        yield server

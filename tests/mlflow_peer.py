"""A real `mlflow server` on a free loopback port, for the integration tests.

The server keeps its runs and registry in a sqlite file and its artifacts in a directory, both
under a directory the caller owns. It runs in its own process group because `mlflow server`
starts uvicorn (and, unless disabled, job runners) as child processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

INSTALL_SCRIPT = ".ci/install-mlflow.sh"
EXECUTABLE_ENV = "FISHWATCH_TEST_MLFLOW_BIN"
DEFAULT_VENV = Path.home() / ".cache" / "fishwatch" / "mlflow-venv"
STARTUP_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 15.0
LOG_TAIL_LINES = 40

# Telemetry off, so the server never calls a host other than loopback. The job runner serves
# MLflow's GenAI jobs, which these tests do not use, and it adds child processes to every start.
SERVER_ENVIRONMENT = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "true",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}


@dataclass(frozen=True)
class MlflowServer:
    """A running `mlflow server`: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/2.0/mlflow"

    def log_tail(self) -> str:
        return read_log_tail(self.log_path)


def install_venv() -> Path:
    """Return the venv that the install script fills, honouring FISHWATCH_MLFLOW_VENV as it does."""
    return Path(os.environ.get("FISHWATCH_MLFLOW_VENV") or DEFAULT_VENV)


def find_mlflow_executable() -> str | None:
    """Locate `mlflow`: FISHWATCH_TEST_MLFLOW_BIN, then the install script's venv, then PATH."""
    configured = os.environ.get(EXECUTABLE_ENV)
    if configured:
        return configured
    venv_mlflow = install_venv() / "bin" / "mlflow"
    if venv_mlflow.is_file() and os.access(venv_mlflow, os.X_OK):
        return str(venv_mlflow)
    return shutil.which("mlflow")


def require_mlflow_executable() -> str:
    """Return the `mlflow` executable, or fail the test under CI=true and skip it elsewhere."""
    executable = find_mlflow_executable()
    if executable is not None:
        return executable
    reason = (
        f"mlflow executable not found in {EXECUTABLE_ENV}, {install_venv()}/bin or PATH; "
        f"run {INSTALL_SCRIPT} (or set {EXECUTABLE_ENV}) to run the MLflow integration tests"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def free_loopback_port() -> int:
    # Another process could take the port before MLflow binds it. That shows up as a start-up
    # failure with the bind error in the log tail.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def read_log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "<no log written>"
    return "\n".join(text.splitlines()[-lines:])


def server_command(executable: str, root: Path, port: int) -> list[str]:
    return [
        executable,
        "server",
        "--backend-store-uri",
        f"sqlite:///{root / 'mlflow.db'}",
        "--default-artifact-root",
        str(root / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


async def wait_until_healthy(server: MlflowServer, timeout_s: float) -> None:
    """Poll `/health` until it returns 200, or raise RuntimeError with the server's log tail."""
    deadline = time.monotonic() + timeout_s
    last_error = "no answer yet"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            exit_code = server.process.poll()
            if exit_code is not None:
                raise RuntimeError(
                    f"mlflow server exited with code {exit_code} before /health returned 200; "
                    f"log tail of {server.log_path}:\n{server.log_tail()}"
                )
            try:
                async with session.get(f"{server.url}/health") as response:
                    if response.status == 200:
                        return
                    last_error = f"HTTP {response.status}"
            except (aiohttp.ClientError, TimeoutError) as exc:
                last_error = exc.__class__.__name__
            await asyncio.sleep(0.25)
    raise RuntimeError(
        f"mlflow server at {server.url} was not healthy within {timeout_s:.0f} s (last result: {last_error}); "
        f"log tail of {server.log_path}:\n{server.log_tail()}"
    )


def stop_process_group(process: subprocess.Popen[bytes], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Send SIGTERM to the server's process group, then SIGKILL if it outlives `timeout_s`."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout_s)
    # uvicorn may outlive the `mlflow` parent for a moment, so the group kill also reaches it.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def start_server_process(root: Path, executable: str) -> MlflowServer:
    """Launch `mlflow server` in its own process group, logging to `root`/mlflow-server.log."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_loopback_port()
    log_path = root / "mlflow-server.log"
    environment = {**os.environ, **SERVER_ENVIRONMENT}
    environment.pop("MLFLOW_TRACKING_URI", None)
    with log_path.open("wb") as log_file:
        # cwd=root, because the server writes ./mlartifacts for proxied artifacts by default.
        process = subprocess.Popen(
            server_command(executable, root, port),
            cwd=root,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return MlflowServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path)


@contextlib.asynccontextmanager
async def run_mlflow_server(
    root: Path, *, executable: str, startup_timeout_s: float = STARTUP_TIMEOUT_S
) -> AsyncIterator[MlflowServer]:
    """Start `mlflow server` with its store and artifacts under `root`, and stop it on exit."""
    server = await asyncio.to_thread(start_server_process, root, executable)
    try:
        await wait_until_healthy(server, startup_timeout_s)
        yield server
    finally:
        await asyncio.to_thread(stop_process_group, server.process)

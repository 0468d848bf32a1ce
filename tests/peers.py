"""Real peer processes for tests: redis-server and mosquitto on free loopback ports.

Each peer starts from its binary when that exists. Otherwise the suite uses the URL in
FISHWATCH_TEST_REDIS_URL or FISHWATCH_TEST_MQTT_URL. With neither, a test that needs the peer is
skipped, except under CI=true, where it fails: CI must never pass by skipping a real peer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REDIS_BINARIES = ("/usr/bin/redis-server", "redis-server")
MOSQUITTO_BINARIES = ("/usr/sbin/mosquitto", "mosquitto")
START_TIMEOUT_S = 10.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _port_is_free(port: int) -> bool:
    # Without SO_REUSEADDR the bind also fails on a port that a closed connection keeps in
    # TIME_WAIT, because a server that binds that port next may fail on it too.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_block(size: int) -> int:
    """Return the first of `size` consecutive free loopback ports (the sandbox takes five in a row)."""
    for _ in range(50):
        base = free_port()
        if base + size <= 65535 and all(_port_is_free(base + offset) for offset in range(1, size)):
            return base
    raise RuntimeError(f"found no {size} consecutive free ports on 127.0.0.1 in 50 tries")


def find_binary(candidates: tuple[str, ...]) -> str | None:
    for candidate in candidates:
        found = shutil.which(candidate) or (candidate if os.access(candidate, os.X_OK) else None)
        if found:
            return found
    return None


def missing_peer(name: str, variable: str) -> None:
    """Skip the test, or fail it under CI=true, because the peer cannot be had."""
    message = f"no {name} binary found and {variable} is not set"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI needs every real peer", pytrace=False)
    pytest.skip(message)


def wait_for_port(port: int, process: subprocess.Popen[bytes], name: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with status {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {START_TIMEOUT_S} s")


@dataclass
class PeerProcess:
    """A peer server on a fixed loopback port that can be stopped and started again on that port."""

    name: str
    command: list[str]
    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        log = (self.workdir / f"{self.name}.log").open("ab")
        self.process = subprocess.Popen(self.command, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_for_port(self.port, self.process, self.name)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def redis_server(workdir: Path, binary: str) -> PeerProcess:
    port = free_port()
    command = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
        "--protected-mode",
        "yes",
    ]
    return PeerProcess("redis-server", command, port, workdir)


def mosquitto_server(workdir: Path, binary: str) -> PeerProcess:
    port = free_port()
    config = workdir / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n", encoding="utf-8")
    return PeerProcess("mosquitto", [binary, "-c", str(config)], port, workdir)


@contextlib.contextmanager
def running_redis() -> Iterator[PeerProcess]:
    """Start a private redis-server; the caller must have checked that the binary exists."""
    binary = find_binary(REDIS_BINARIES)
    assert binary is not None
    with tempfile.TemporaryDirectory(prefix="fishwatch-redis-") as directory:
        peer = redis_server(Path(directory), binary)
        peer.start()
        try:
            yield peer
        finally:
            peer.stop()


@contextlib.contextmanager
def redis_url_for_tests() -> Iterator[str]:
    """Yield the URL of a Redis for the test session: our own server, else FISHWATCH_TEST_REDIS_URL."""
    if find_binary(REDIS_BINARIES) is not None:
        with running_redis() as peer:
            yield f"redis://127.0.0.1:{peer.port}/0"
        return
    url = os.environ.get("FISHWATCH_TEST_REDIS_URL")
    if not url:
        missing_peer("redis-server", "FISHWATCH_TEST_REDIS_URL")
    assert url is not None
    yield url


@contextlib.contextmanager
def mqtt_url_for_tests() -> Iterator[tuple[str, PeerProcess | None]]:
    """Yield an MQTT URL and, when we started it, the mosquitto process (so a test can restart it)."""
    binary = find_binary(MOSQUITTO_BINARIES)
    if binary is not None:
        with tempfile.TemporaryDirectory(prefix="fishwatch-mosquitto-") as directory:
            peer = mosquitto_server(Path(directory), binary)
            peer.start()
            try:
                yield f"mqtt://127.0.0.1:{peer.port}", peer
            finally:
                peer.stop()
        return
    url = os.environ.get("FISHWATCH_TEST_MQTT_URL")
    if not url:
        missing_peer("mosquitto", "FISHWATCH_TEST_MQTT_URL")
    assert url is not None
    yield url, None

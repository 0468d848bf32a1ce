"""Benchmark GraphQL subscriptions: publish-to-receive latency, deliveries per second, memory.

Starts a private redis-server, the sandbox (`fishwatch sandbox`) and, for each measurement, a
fresh server process on a free loopback port: first the floor, then the gateway (`fishwatch
serve`). The floor is a minimal Starlette app on the same uvicorn WebSocket stack that sends each
event to the clients of its farm with one `send_text` each (see `floor_app`), so the table shows
what the gateway costs above the least any server on that stack must do. Client worker processes
(this script with `--worker`) open N WebSocket subscriptions over graphql-transport-ws to camera
events. The benchmark process publishes on the Redis bus as another replica would, stamping each
event with its publish time (`time.time_ns()`, one clock, since everything runs on this machine).

Two workload shapes, chosen by `--farms F` (one measurement per value):
- F = 1: every subscriber sends the same query without variables, and every event reaches all N
  subscribers. This is the worst case for one process: all deliveries of an event go out in one
  fan-out, so p99 is about the time to write N frames. Results stay comparable with runs made
  before this option, which had only this shape.
- F > 1 (100 by default): dashboards watching one farm each. Subscriber i (counted over all worker
  processes) subscribes to the camera events of farm i % F, ids farm-000, farm-001, ..., passed as the
  GraphQL variable `farms`. Events go round-robin over the F farms, so each one reaches N/F
  subscribers and a fan-out is F times shorter at the same deliveries per second.

For each subscriber count, farm count and server it measures:
- memory per idle subscriber: the server's RSS growth from before the clients connect to after
  all N subscriptions are live and idle, divided by N;
- latency at a fixed rate: events published at `--deliveries-per-s * F / N` per second (so about
  `--deliveries-per-s` deliveries per second) for `--steady-s` seconds; p50 and p99 of
  publish-to-receive over all deliveries;
- peak deliveries per second: a burst of `--burst-deliveries / (N/F)` events published back to
  back, counted from the first publish to the last delivery.
Expected deliveries count each event once for every subscriber of its farm, so "Delivered" is
exact also when F does not divide N.

Both servers run with `FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S=300` (`--gc-interval-s`), the
setting for replicas that hold many subscribers (gateway/gc_policy.py); 0 measures CPython's own
garbage collection policy instead.

Prints a Markdown table to stdout and progress to stderr. The clients run on the same 2 cores as
the servers, so their CPU time is in the latencies of both. The default client (`--client raw`)
parses frames on bare asyncio transports to keep that share small; `--client websockets` uses the
Python `websockets` client of earlier runs.

Usage: .venv/bin/python benchmarks/bench_subscriptions.py [--subscribers 1000 10000] [--farms 1 100]
A quicker run of a few minutes: --subscribers 1000 --farms 1 10 --steady-s 5 --burst-deliveries 20000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import gc
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUERY = 'subscription { events(types: ["com.fishwatch.camera."]) { data } }'
FARM_QUERY = 'subscription ($farms: [ID!]) { events(types: ["com.fishwatch.camera."], farmIds: $farms) { data } }'
CONNECT_CONCURRENCY = 100
# The `ws` value that `fishwatch serve` passes to uvicorn.
DEFAULT_WS = "websockets-sansio"
READY_TIMEOUT_S = 300.0


def farm_id(index: int) -> str:
    return f"farm-{index:03d}"


def subscribe_message(index: int, farms: int) -> str:
    """Return the subscribe message of subscriber `index` (counted over all workers) for `farms` farms.

    With one farm it is the query of runs made before farms were an option, without variables.
    """
    if farms == 1:
        payload: dict[str, Any] = {"query": QUERY}
    else:
        payload = {"query": FARM_QUERY, "variables": {"farms": [farm_id(index % farms)]}}
    return json.dumps({"id": "1", "type": "subscribe", "payload": payload})


def subscribers_of_farm(farm: int, subscribers: int, farms: int) -> int:
    """Return how many of `subscribers` subscribers watch farm number `farm`, when subscriber i watches i % farms."""
    return subscribers // farms + (1 if farm < subscribers % farms else 0)


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# The client worker: N subscriptions in one process, commands on stdin, results on stdout.


class RawSubscriber(asyncio.Protocol):
    """One graphql-transport-ws subscriber over a bare asyncio transport.

    It parses only what the benchmark needs: unmasked server frames, the `sentNs` and `phase` of
    each result, pings (replied to with pongs, so uvicorn's keepalive does not drop it) and close.
    A Python `websockets` client costs several times more CPU per message, and the clients share
    the cores with the server under test.
    """

    def __init__(self, host: str, path: str, subscribe: str, state: WorkerState) -> None:
        self.host = host
        self.path = path
        self.subscribe = subscribe
        self.state = state
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.upgraded = False
        self.warm = False
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )

    def send_text(self, text: str) -> None:
        self.send_frame(text.encode(), 0x1)

    def send_frame(self, payload: bytes, opcode: int) -> None:
        assert self.transport is not None
        mask = os.urandom(4)
        length = len(payload)
        header = bytes([0x80 | opcode])
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + length.to_bytes(2, "big")
        else:
            header += bytes([0x80 | 127]) + length.to_bytes(8, "big")
        masked = int.from_bytes(payload, "big") ^ int.from_bytes((mask * (length // 4 + 1))[:length], "big")
        self.transport.write(header + mask + masked.to_bytes(length, "big"))

    def data_received(self, data: bytes) -> None:
        received_ns = time.time_ns()
        if self.buffer or not self.upgraded:
            self.buffer += data
            if not self.upgraded and not self._upgrade():
                return
            data = bytes(self.buffer)
            self.buffer.clear()
        # Usually `data` is one whole small frame, so this loop runs once and copies nothing else.
        size = len(data)
        offset = 0
        while size - offset >= 2:
            opcode = data[offset] & 0x0F
            length = data[offset + 1] & 0x7F
            start = offset + 2
            if length == 126:
                length = int.from_bytes(data[start : start + 2], "big")
                start += 2
            elif length == 127:
                length = int.from_bytes(data[start : start + 8], "big")
                start += 8
            end = start + length
            if end > size:
                break
            offset = end
            if opcode == 0x1:
                marker = data.find(b'"sentNs":', start, end)
                if marker >= 0 and data.find(b'"warmup"', start, end) < 0:
                    digits_end = data.find(b"}", marker, end)
                    comma = data.find(b",", marker, digits_end)
                    sent_ns = int(data[marker + 9 : comma if comma >= 0 else digits_end])
                    self.state.latencies_us.append((received_ns - sent_ns) // 1000)
                    self.state.last_ns = received_ns
                    continue
            self._frame(opcode, data[start:end])
        if offset < size:
            self.buffer += data[offset:]

    def _upgrade(self) -> bool:
        """Consume the handshake response from the buffer; return whether the upgrade is done."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        status = bytes(self.buffer[: self.buffer.find(b"\r\n")])
        if b" 101 " not in status:
            self._fail(f"handshake refused: {status.decode(errors='replace')}")
            return False
        del self.buffer[: end + 4]
        self.upgraded = True
        self.send_text('{"type":"connection_init"}')
        return True

    def _frame(self, opcode: int, payload: bytes) -> None:
        """Handle every frame but a result with `sentNs` outside the warm-up, which data_received counts."""
        if opcode == 0x9:  # ping: reply with a pong carrying the same payload
            self.send_frame(payload, 0xA)
            return
        if opcode == 0x8:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            self._fail(f"closed by the server with code {code}")
            return
        if opcode != 0x1:
            return
        if b'"warmup"' in payload:
            if not self.warm:
                self.warm = True
                self.state.warm += 1
                self.state.check_warm()
        elif b'"connection_ack"' in payload:
            self.send_text(self.subscribe)
            if not self.acknowledged.done():
                self.acknowledged.set_result(None)
        elif b'"ping"' in payload:
            self.send_text('{"type":"pong"}')
        elif b'"ka"' not in payload:
            self._fail(f"unexpected message {payload[:200]!r}")

    def _fail(self, reason: str) -> None:
        self.state.failures += 1
        self.state.check_warm()
        if self.state.failures <= 3:
            sys.stderr.write(f"benchmark client: {reason}\n")
        if not self.acknowledged.done():
            self.acknowledged.set_exception(RuntimeError(reason))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.acknowledged.done():
            self.acknowledged.set_exception(RuntimeError(f"connection lost during the handshake: {exc!r}"))


@dataclass
class WorkerState:
    """Results received so far by the subscribers of one worker process."""

    expected: int
    warmed: asyncio.Event
    latencies_us: list[int] = field(default_factory=list)
    last_ns: int = 0
    warm: int = 0
    failures: int = 0

    def check_warm(self) -> None:
        """Report warm once every subscriber got a warm-up event or failed; failures are reported apart."""
        if self.warm + self.failures >= self.expected:
            self.warmed.set()


async def _subscribe_websockets(url: str, subscribe: str, state: WorkerState, subscribed: asyncio.Event) -> None:
    """Run one subscriber on the Python `websockets` client, the client of earlier runs of this benchmark."""
    import websockets
    from websockets.typing import Subprotocol

    protocols = [Subprotocol("graphql-transport-ws")]
    async with websockets.connect(url, subprotocols=protocols, max_size=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        await ws.send(subscribe)
        subscribed.set()
        warm = False
        async for raw in ws:
            received_ns = time.time_ns()
            message = json.loads(raw)
            if message.get("type") != "next":
                continue
            data = message["payload"]["data"]["events"]["data"]
            if data.get("phase") == "warmup":
                if not warm:
                    warm = True
                    state.warm += 1
                    state.check_warm()
                continue
            state.latencies_us.append((received_ns - data["sentNs"]) // 1000)
            state.last_ns = received_ns


async def run_worker(url: str, count: int, client: str, first: int, farms: int) -> None:
    """Run subscribers number `first` to `first + count - 1` of all workers. Subscriber i watches farm i % farms."""
    state = WorkerState(expected=count, warmed=asyncio.Event())
    limiter = asyncio.Semaphore(CONNECT_CONCURRENCY)
    parts = urlsplit(url)
    loop = asyncio.get_running_loop()
    keep: list[Any] = []

    async def start(index: int) -> None:
        subscribe = subscribe_message(index, farms)
        async with limiter:
            if client == "raw":
                host, port = parts.hostname or "127.0.0.1", parts.port or 80
                _, protocol = await loop.create_connection(
                    lambda: RawSubscriber(f"{host}:{port}", parts.path, subscribe, state), host, port
                )
                keep.append(protocol)
                await asyncio.wait_for(protocol.acknowledged, READY_TIMEOUT_S)
                return
            subscribed = asyncio.Event()
            task = asyncio.create_task(_subscribe_websockets(url, subscribe, state, subscribed))
            keep.append(task)
            waiter = asyncio.ensure_future(subscribed.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done():
                task.result()

    await asyncio.gather(*(start(first + index) for index in range(count)))
    # The connections live until the end. Frozen, they are not walked again by full collections,
    # whose pauses would otherwise count as latency of the server under test.
    gc.collect()
    gc.freeze()
    print(json.dumps({"connected": count}), flush=True)
    await state.warmed.wait()
    print(json.dumps({"warm": state.warm, "failures": state.failures}), flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "report":
            report = {"latencies_us": state.latencies_us, "last_ns": state.last_ns, "failures": state.failures}
            print(json.dumps(report), flush=True)
            state.latencies_us = []
        elif line in ("stop", ""):
            break
    for item in keep:
        if isinstance(item, asyncio.Task):
            item.cancel()
        elif item.transport is not None:
            item.transport.close()


# The floor: the least work any server on uvicorn's WebSocket stack must do per delivery.


def floor_app(redis_url: str) -> Any:
    """Build a Starlette app that sends each camera event to the clients watching its farm, and nothing else.

    It speaks just enough graphql-transport-ws for the benchmark client: it acknowledges
    connection_init, records the subscribe message's id and the farms in its variable `farms`
    (the query text is not read; no such variable, or an empty list, means every farm), and then
    writes each event as a "next" message of the same shape the gateway sends. Clients are kept
    grouped by farm, so one task walks for each event only the group of the event's `farmid` and
    the group watching every farm, with one `send_text` per client and one JSON encoding per
    event. No GraphQL, authentication or per-subscriber queue runs, so the gap between this and
    the gateway is the gateway's own cost.
    """
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from gateway.gc_policy import FullCollectionPolicy
    from subscriptions.bus import BusOptions, open_event_bus

    # The operation id of each client, by the farm it watches. The key None contains the clients of every farm.
    groups: dict[str | None, dict[WebSocket, str]] = {}

    async def endpoint(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="graphql-transport-ws")
        farms: list[str | None] = []
        try:
            await websocket.receive_text()  # connection_init
            await websocket.send_text('{"type":"connection_ack"}')
            subscribe = json.loads(await websocket.receive_text())
            variables = subscribe.get("payload", {}).get("variables") or {}
            farms = list(dict.fromkeys(variables.get("farms") or [None]))
            operation_id = json.dumps(subscribe["id"])
            for farm in farms:
                groups.setdefault(farm, {})[websocket] = operation_id
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            for farm in farms:
                group = groups.get(farm)
                if group is not None:
                    group.pop(websocket, None)
                    if not group:
                        del groups[farm]

    async def broadcast(bus: Any) -> None:
        async with bus.subscribe(types=["com.fishwatch.camera."]) as subscription:
            async for event in subscription:
                farm_group = groups.get(event.farmid) if event.farmid is not None else None
                targets = [group for group in (farm_group, groups.get(None)) if group]
                if not targets:
                    continue
                data = json.dumps({"events": {"data": event.data}}, separators=(",", ":"))
                for group in targets:
                    for websocket, operation_id in list(group.items()):
                        try:
                            await websocket.send_text(
                                f'{{"id":{operation_id},"type":"next","payload":{{"data":{data}}}}}'
                            )
                        except (RuntimeError, OSError):
                            group.pop(websocket, None)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        bus = await open_event_bus(redis_url, BusOptions(key_prefix="fishwatch"))
        task = asyncio.create_task(broadcast(bus))
        # The gateway's garbage collection policy, as the benchmark sets it for both servers, so the
        # two differ only in the work done per delivery.
        interval_s = float(os.environ.get("FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S", "0"))
        collections = FullCollectionPolicy(interval_s, 25.0) if interval_s > 0 else None
        if collections is not None:
            collections.start()
        try:
            yield
        finally:
            if collections is not None:
                await collections.close()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await bus.close()

    async def healthz(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    routes = [WebSocketRoute("/graphql", endpoint), Route("/healthz", healthz)]
    return Starlette(routes=routes, lifespan=lifespan)


def serve(kind: str, port: int, ws: str) -> None:
    """Serve the floor app or the gateway (as `fishwatch serve` does, with the ws implementation chosen)."""
    import uvicorn

    if kind == "floor":
        app = floor_app(os.environ["FISHWATCH_REDIS_URL"])
        timeout = 5
    else:
        from gateway.app import create_app
        from gateway.logging_setup import configure_logging
        from gateway.settings import load_settings

        settings = load_settings(port=port, host="127.0.0.1")
        configure_logging(settings.log_level, settings.log_format)
        app = create_app(settings)
        timeout = int(settings.shutdown_timeout_s)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, log_level="warning", lifespan="on",
        timeout_graceful_shutdown=timeout, ws=ws,
    )  # fmt: skip
    uvicorn.Server(config).run()


# The driver.


class Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def read(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), READY_TIMEOUT_S)
        if not line:
            raise RuntimeError("a client worker exited early")
        decoded: dict[str, Any] = json.loads(line)
        return decoded

    async def command(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{text}\n".encode())
        await self.process.stdin.drain()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


async def wait_http(url: str, timeout_s: float = 60.0) -> None:
    import aiohttp

    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(url) as response:
                    if response.status < 500:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"{url} did not respond within {timeout_s} s")


async def collect(workers: list[Worker], expected: int, timeout_s: float) -> tuple[list[int], int]:
    """Gather latencies from the workers until `expected` arrived or `timeout_s` passed."""
    latencies: list[int] = []
    last_ns = 0
    failures = 0
    deadline = time.monotonic() + timeout_s
    while True:
        await asyncio.sleep(1.0)
        for worker in workers:
            await worker.command("report")
            report = await worker.read()
            latencies.extend(report["latencies_us"])
            last_ns = max(last_ns, report["last_ns"])
            failures = max(failures, report["failures"])
        if failures:
            log(f"{failures} client connections failed; see the messages above")
        if len(latencies) >= expected or time.monotonic() > deadline:
            return latencies, last_ns


async def measure(
    args: argparse.Namespace, subscribers: int, farms: int, bus: Any, gateway_pid: int, ws_url: str
) -> dict:
    """Measure one server with `subscribers` subscribers spread over `farms` farms (see the module docstring)."""
    from subscriptions.events import CloudEvent

    def event(phase: str, farm: int) -> CloudEvent:
        data = {"cameraId": "cam-1", "kind": "count", "phase": phase, "sentNs": time.time_ns()}
        return CloudEvent.new("com.fishwatch.camera.observation", "/bench", data, farm_id=farm_id(farm))

    def deliveries(events: int) -> int:
        """Return the deliveries expected for events 0 to `events` - 1, published round-robin from farm 0."""
        return sum(subscribers_of_farm(index % farms, subscribers, farms) for index in range(events))

    rss_before = rss_bytes(gateway_pid)
    shares = [
        subscribers // args.workers + (1 if index < subscribers % args.workers else 0) for index in range(args.workers)
    ]
    workers = []
    first = 0
    for share in shares:
        # Each worker continues the subscriber numbering where the previous one ended, so farm
        # i % farms has its share of subscribers over all workers, not within each.
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", ws_url, str(share), args.client, str(first), str(farms),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**28,
        )  # fmt: skip
        workers.append(Worker(process))
        first += share
    started = time.monotonic()
    for worker in workers:
        await worker.read()
    log(f"{subscribers} subscribers on {farms} farms connected in {time.monotonic() - started:.1f} s")

    # Publish warm-up events, one per farm in each round, until every subscription has received
    # one, which shows all are live. One round (one delivery per subscriber) at a time, so the
    # server is never asked for more than it can fan out.
    pending = [asyncio.ensure_future(worker.read()) for worker in workers]
    while not all(task.done() for task in pending):
        for farm in range(farms):
            await bus.publish(event("warmup", farm))
        await asyncio.wait(pending, timeout=max(2.0, subscribers / 1000))
    await asyncio.sleep(2.0)  # Let the warm-up deliveries drain before measuring idle memory.
    rss_idle = rss_bytes(gateway_pid)
    failed = sum(task.result()["failures"] for task in pending)
    if failed:
        log(f"{failed} of {subscribers} subscribers were closed or refused before the measurement")
    per_subscriber = (rss_idle - rss_before) / subscribers

    # Fixed rate: each event reaches subscribers / farms subscribers on average.
    rate = args.deliveries_per_s * farms / subscribers
    count = max(1, round(rate * args.steady_s))
    log(f"steady: {count} events at {rate:.2f}/s over {farms} farms for {subscribers} subscribers")
    steady_start = time.monotonic()
    for index in range(count):
        delay = steady_start + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await bus.publish(event("steady", index % farms))
    expected = deliveries(count)
    latencies, _ = await collect(workers, expected, args.drain_s)
    steady_elapsed = count / rate

    # Burst.
    burst = max(1, args.burst_deliveries * farms // subscribers)
    burst_expected = deliveries(burst)
    burst_start_ns = time.time_ns()
    for index in range(burst):
        await bus.publish(event("burst", index % farms))
    burst_latencies, last_ns = await collect(workers, burst_expected, args.drain_s)
    burst_rate = len(burst_latencies) / ((last_ns - burst_start_ns) / 1e9) if last_ns > burst_start_ns else 0.0

    for worker in workers:
        await worker.command("stop")
        await worker.process.wait()
    await asyncio.sleep(1.0)
    return {
        "subscribers": subscribers,
        "farms": farms,
        "kb_per_subscriber": per_subscriber / 1024,
        "rss_idle_mb": rss_idle / 2**20,
        "steady_rate": len(latencies) / steady_elapsed,
        "steady_delivered": len(latencies),
        "steady_expected": expected,
        "p50_ms": percentile(latencies, 0.50) / 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) / 1000 if latencies else float("nan"),
        "burst_rate": burst_rate,
        "burst_delivered": len(burst_latencies),
        "burst_expected": burst_expected,
        "failed_subscribers": failed,
    }


async def start_server(kind: str, env: dict[str, str], ws: str | None) -> tuple[asyncio.subprocess.Process, int]:
    """Start the gateway or the floor on a free port; return the process once /healthz responds.

    The gateway runs as `fishwatch serve` unless a ws implementation is chosen, which that command
    does not take yet.
    """
    from tests.peers import free_port

    port = free_port()
    if kind == "gateway" and ws is None:
        command = [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port)]
    else:
        command = [sys.executable, __file__, "--serve", kind, str(port), ws or DEFAULT_WS]
    server = await asyncio.create_subprocess_exec(
        *command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr
    )
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz")
    except BaseException:
        await stop(server)
        raise
    return server, port


async def stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # It exited already.
        process.terminate()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 20)


async def start_sandbox(env: dict[str, str], attempts: int = 3) -> tuple[asyncio.subprocess.Process, int]:
    """Start `fishwatch sandbox` on five consecutive free ports; return it once it responds.

    After a run with thousands of client connections, many loopback ports are still in TIME_WAIT,
    so the five ports are checked together, and a start that still fails (another process took
    one meanwhile) is tried again on new ports.
    """
    from tests.peers import free_port_block

    for _ in range(attempts):
        port = free_port_block(5)
        sandbox = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "sandbox", "--base-port", str(port),
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        waiting = asyncio.ensure_future(wait_http(f"http://127.0.0.1:{port}/healthz"))
        exited = asyncio.ensure_future(sandbox.wait())
        await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        if waiting.done() and waiting.exception() is None:
            exited.cancel()
            return sandbox, port
        waiting.cancel()
        await stop(sandbox)
        log(f"the sandbox did not start on ports {port}-{port + 4} (exit status {sandbox.returncode}); retrying")
    raise RuntimeError(f"the sandbox did not start in {attempts} attempts")


async def run(args: argparse.Namespace) -> None:
    from subscriptions.bus import BusOptions, open_event_bus
    from tests.peers import running_redis

    with running_redis() as redis_peer:
        redis_url = f"redis://127.0.0.1:{redis_peer.port}/0"
        base_env = {key: value for key, value in os.environ.items() if not key.startswith("FISHWATCH_")}
        sandbox, sandbox_port = await start_sandbox(base_env)
        names = ("core", "acquisition", "fabric", "alerting", "mlflow")
        env = {
            **base_env,
            "FISHWATCH_REDIS_URL": redis_url,
            "FISHWATCH_LOG_LEVEL": "WARNING",
            "FISHWATCH_AUTH_ANONYMOUS": "on",
            "FISHWATCH_SUBSCRIBER_MAX_QUEUED_EVENTS": "10000",
            # Every benchmark connection is the same anonymous caller.
            "FISHWATCH_WS_MAX_CONNECTIONS_PER_CLIENT": str(max(args.subscribers) + 100),
            "FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S": str(args.gc_interval_s),
            **{f"FISHWATCH_{name.upper()}_URL": f"http://127.0.0.1:{sandbox_port + i}" for i, name in enumerate(names)},
        }
        bus = None
        try:
            bus = await open_event_bus(redis_url, BusOptions(key_prefix="fishwatch"))
            results = []
            for subscribers in args.subscribers:
                for farms in args.farms:
                    for kind in args.servers:
                        # A fresh server per measurement, so memory freed by the previous one does not
                        # hide the growth.
                        server, port = await start_server(kind, env, args.ws)
                        try:
                            ws_url = f"ws://127.0.0.1:{port}/graphql"
                            result = await measure(args, subscribers, farms, bus, server.pid, ws_url)
                        finally:
                            await stop(server)
                        results.append({"server": kind, **result})
                        log(json.dumps(results[-1]))
        finally:
            if bus is not None:
                await bus.close()
            await stop(sandbox)

    machine = platform.processor() or platform.machine()
    print(f"Machine: {os.cpu_count()} CPUs, {machine}, Python {platform.python_version()}")
    print(f"Date: {time.strftime('%Y-%m-%d')}; run id {uuid.uuid4().hex[:6]}")
    print(
        f"Client: {args.client}, {args.workers} processes; uvicorn ws: {args.ws or DEFAULT_WS}; "
        f"FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S={args.gc_interval_s:g}\n"
    )
    print(
        "| Server | Subscribers | Farms | Subscribers per event | Memory per idle subscriber (KB) | "
        "Server RSS idle (MiB) | Target rate: deliveries/s | Delivered | p50 ms | p99 ms | Burst: deliveries/s | "
        "Burst delivered | Failed subscribers |"
    )
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for result in results:
        per_event = result["subscribers"] / result["farms"]
        per_event_text = f"{per_event:,.0f}" if per_event.is_integer() else f"{per_event:,.1f}"
        print(
            f"| {result['server']} | {result['subscribers']:,} | {result['farms']:,} | {per_event_text} | "
            f"{result['kb_per_subscriber']:.1f} | "
            f"{result['rss_idle_mb']:.0f} | "
            f"{result['steady_rate']:,.0f} | {result['steady_delivered']:,}/{result['steady_expected']:,} | "
            f"{result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {result['burst_rate']:,.0f} | "
            f"{result['burst_delivered']:,}/{result['burst_expected']:,} | {result['failed_subscribers']:,} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--worker", nargs=5, metavar=("URL", "COUNT", "CLIENT", "FIRST", "FARMS"), help=argparse.SUPPRESS
    )
    parser.add_argument("--serve", nargs=3, metavar=("KIND", "PORT", "WS"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--subscribers", type=int, nargs="+", default=[1000, 10000], help="subscriber counts, one run each"
    )
    parser.add_argument(
        "--farms",
        type=int,
        nargs="+",
        default=[1, 100],
        help="farm counts, one run each. Subscriber i watches farm i %% F and events go round-robin over the "
        "F farms, so 1 sends every event to every subscriber (default: 1 100)",
    )
    parser.add_argument("--workers", type=int, default=2, help="client processes (default: 2)")
    parser.add_argument(
        "--gc-interval-s",
        type=float,
        default=300.0,
        help="FISHWATCH_GC_FULL_COLLECTION_INTERVAL_S for both servers, as for a replica with many "
        "subscribers. 0 keeps CPython's own garbage collection policy (default: 300)",
    )
    parser.add_argument(
        "--deliveries-per-s", type=float, default=5000.0, help="deliveries/s offered at fixed rate (default: 5000)"
    )
    parser.add_argument("--steady-s", type=float, default=15.0, help="fixed-rate phase length in seconds (default: 15)")
    parser.add_argument(
        "--burst-deliveries", type=int, default=100_000, help="deliveries in the burst (default: 100000)"
    )
    parser.add_argument(
        "--client",
        choices=("raw", "websockets"),
        default="raw",
        help="raw: a minimal client on asyncio transports (default); websockets: the Python websockets client",
    )
    parser.add_argument(
        "--servers",
        nargs="+",
        choices=("floor", "gateway"),
        default=["floor", "gateway"],
        help="servers to measure for each subscriber and farm count, in this order (default: floor gateway)",
    )
    parser.add_argument(
        "--ws",
        default=None,
        help=f"uvicorn's WebSocket implementation for both servers (default: {DEFAULT_WS}, as `fishwatch serve`)",
    )
    parser.add_argument("--drain-s", type=float, default=30.0, help="maximum wait for deliveries in s (default: 30)")
    args = parser.parse_args()
    if args.worker:
        url, count, client, first, farms = args.worker
        asyncio.run(run_worker(url, int(count), client, int(first), int(farms)))
        return
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), args.serve[2])
        return
    if min(args.farms) < 1 or max(args.farms) > min(args.subscribers):
        # With more farms than subscribers some farms have none, and their events measure nothing.
        parser.error("each --farms value must be between 1 and the smallest --subscribers count")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

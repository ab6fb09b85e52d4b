"""The worker's sticky cache, measured on journeys already open: what a cached journey costs in memory, what a
journey outside the cache costs to wake (CPU, latency), for each cache size asked.

    .venv/bin/python bench/open_journeys.py --journeys 20000 --home /tmp/aftercare-open-20k --keep
    .venv/bin/python bench/sticky_cache.py --home /tmp/aftercare-open-20k [--caches 1000 25000] [--touch 3000]

Runs on a home `open_journeys.py --keep` filled (journeys delivered and waiting in the post-delivery plan). For
each cache size it starts the stack `aftercare up` runs on that home with AFTERCARE_WORKER_MAX_CACHED_WORKFLOWS
set (a fresh worker: nothing cached), then, each on its own journeys (no journey is used twice in a run):

1. `--samples` state reads (`GET /v1/orders/{id}`) and support Updates (`POST .../pause`), one at a time, each on
   a journey nobody touched since the restart: out of the cache, its history replayed first;
2. `--touch` state reads, `--concurrency` at once, each on another untouched journey: these fill the cache. The
   worker's resident memory and CPU before and after give the memory per cached journey and the CPU of one
   replay;
3. `--samples` reads and Updates again, one at a time, on journeys touched first in step 2: cached when the cache
   holds `--touch` journeys, replayed again when the cache is smaller (it evicts the least recently used).

Figures, not pass/fail; docs/PERFORMANCE.md has the measured ones and DEPLOYMENT.md the defaults drawn from them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from open_journeys import WAITING_POLICY, timed
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from stack_bench import (
    WAITING,
    EmbeddedStack,
    console,
    cpu_seconds,
    load_average,
    percentiles,
    quantile,
    rss_mb,
    run_bounded,
)

from domain.orders import order_of_journey

CACHE_VARIABLE = "AFTERCARE_WORKER_MAX_CACHED_WORKFLOWS"


@dataclass
class CacheRun:
    """One cache size's figures."""

    cache: int
    worker_mb_start: float
    worker_mb_filled: float
    touched: int
    replay_cpu_ms: float
    cold_reads: list[float]
    cold_updates: list[float]
    warm_reads: list[float]
    warm_updates: list[float]

    @property
    def kb_per_cached(self) -> float:
        return (self.worker_mb_filled - self.worker_mb_start) * 1024 / max(min(self.touched, self.cache), 1)


async def waiting_orders(stack: EmbeddedStack) -> list[str]:
    """The order ids of every journey waiting in the post-delivery plan (Temporal's visibility)."""
    client = await stack.temporal()
    return [order_of_journey(w.id, None) async for w in client.list_workflows(WAITING)]


async def touch(stack: EmbeddedStack, order_ids: Sequence[str], concurrency: int) -> None:
    """Read every journey in `order_ids` once, `concurrency` at once, with a progress bar."""
    columns = (TextColumn("[bold]touching"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    async with stack.api() as api:
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("touch", total=len(order_ids))

            async def read(i: int) -> None:
                (await api.get(f"/v1/orders/{order_ids[i]}")).raise_for_status()

            await run_bounded(len(order_ids), concurrency, read, lambda done, _: progress.update(task, completed=done))


async def measure(home: Path, cache: int, picks: list[str], args: argparse.Namespace) -> CacheRun:
    """Start the stack on `home` with a cache of `cache` workflows, and take this run's figures on `picks`."""
    os.environ[CACHE_VARIABLE] = str(cache)
    stack = EmbeddedStack(home, WAITING_POLICY, workers=1, keep=True)
    with stack.running(f"starting the stack with a sticky cache of {cache:,}"):
        n = args.samples
        cold_reads, cold_updates, touched = picks[:n], picks[n : 2 * n], picks[2 * n : 2 * n + args.touch]
        cold_read_times = await timed(stack, cold_reads, "read")
        cold_update_times = await timed(stack, cold_updates, "pause")
        worker = stack.worker_pids[0]
        await asyncio.sleep(2.0)  # let the cold samples' memory settle into the baseline
        mb_start, cpu_start = rss_mb(worker), cpu_seconds(worker)
        await touch(stack, touched, args.concurrency)
        cpu = cpu_seconds(worker) - cpu_start
        mb_filled = rss_mb(worker)
        warm = touched[: 2 * n]  # touched first: the first evicted when the cache is smaller than --touch
        warm_read_times = await timed(stack, warm[:n], "read")
        warm_update_times = await timed(stack, warm[n:], "pause")
        return CacheRun(
            cache=cache,
            worker_mb_start=mb_start,
            worker_mb_filled=mb_filled,
            touched=len(touched),
            replay_cpu_ms=cpu / max(len(touched), 1) * 1000,
            cold_reads=cold_read_times,
            cold_updates=cold_update_times,
            warm_reads=warm_read_times,
            warm_updates=warm_update_times,
        )


def report(runs: list[CacheRun], touched: int) -> None:
    def p(samples: list[float]) -> str:
        return f"{quantile(samples, 0.5) * 1000:,.0f} / {quantile(samples, 0.95) * 1000:,.0f}" if samples else "-"

    table = Table(title=f"Sticky cache: {touched:,} journeys touched after a restart", header_style="bold")
    for column in (
        "cache",
        "worker MB after restart",
        f"after {touched:,} reads",
        "KB per cached journey",
        "worker CPU ms per read, cache filling",
        "read out of cache p50/p95 ms",
        "Update out of cache p50/p95 ms",
        "read again p50/p95 ms",
        "Update again p50/p95 ms",
    ):
        table.add_column(column, justify="right")
    for r in runs:
        table.add_row(
            f"{r.cache:,}",
            f"{r.worker_mb_start:,.0f}",
            f"{r.worker_mb_filled:,.0f}",
            f"{r.kb_per_cached:,.0f}",
            f"{r.replay_cpu_ms:,.0f}",
            p(r.cold_reads),
            p(r.cold_updates),
            p(r.warm_reads),
            p(r.warm_updates),
        )
    console.print(table)
    for r in runs:
        console.print(
            f"cache {r.cache:,}: read out of cache {percentiles(r.cold_reads)}; read again {percentiles(r.warm_reads)}"
        )
    console.print(
        '"again": journeys read first among the touched ones; a cache smaller than the touched journeys has evicted '
        "them (least recently used), so they replay again"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--home", required=True, help="an AFTERCARE_HOME filled by open_journeys.py --keep")
    p.add_argument("--caches", type=int, nargs="+", default=[1000, 25000], help="cache sizes (default 1000 25000)")
    p.add_argument("--touch", type=int, default=3000, help="journeys read to fill the cache (default 3000)")
    p.add_argument("--samples", type=int, default=100, help="reads and Updates timed one at a time (default 100)")
    p.add_argument("--concurrency", type=int, default=4, help="reads at once while touching (default 4)")
    return p.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    home = Path(args.home)
    if not (home / "temporal.db").exists():
        sys.exit(f"sticky_cache: {home} holds no temporal.db; fill it first with open_journeys.py --keep")
    console.print(f"[bold]sticky cache[/]: caches {args.caches}, {args.touch:,} touched; load {load_average()}")
    probe = EmbeddedStack(home, WAITING_POLICY, workers=1, keep=True)
    with probe.running("starting the stack to list the waiting journeys"):
        orders = await waiting_orders(probe)
    per_run = 2 * args.samples + args.touch
    if len(orders) < per_run * len(args.caches):
        sys.exit(f"sticky_cache: {len(orders):,} waiting journeys; {per_run * len(args.caches):,} needed")
    random.Random(29).shuffle(orders)
    runs = []
    for k, cache in enumerate(args.caches):
        runs.append(await measure(home, cache, orders[k * per_run : (k + 1) * per_run], args))
    report(runs, args.touch)
    console.print(f"load average at the end: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

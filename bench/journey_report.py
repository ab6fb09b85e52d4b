"""The bench's figures and how it prints them: one side's run (orders/s, latencies, CPU of the bench process and
of the dev server), a sample of histories read back (events, timers, tasks, signals, size), and the tables and
verdicts that compare the journeys with the floor.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from journey_standins import Schedule

# Wide enough for the tables when piped to a file (rich falls back to 80 columns there).
console = Console() if sys.stdout.isatty() else Console(width=110)


# --- one side's run ----------------------------------------------------------------------------------------


@dataclass
class RunResult:
    name: str
    orders: int
    seconds: float
    activities: int
    failures: int
    cpu_bench: float
    cpu_server: float
    workflow_ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Completions per second in the middle 80% of the run: no ramp-up, no tail."""
        if len(self.done_at) < 10:
            return self.overall_rate
        done = sorted(self.done_at)
        lo, hi = len(done) // 10, len(done) * 9 // 10 - 1
        return (hi - lo) / (done[hi] - done[lo]) if done[hi] > done[lo] else self.overall_rate

    @property
    def overall_rate(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    def per_order_ms(self, cpu: float) -> float:
        return cpu / max(self.orders, 1) * 1000

    @property
    def cpu_ceiling(self) -> float:
        """Orders/s this machine could sustain if CPU were the only limit: the worker process (one
        Python thread holds the GIL) gets at most one core, worker + server share all of them."""
        py, srv = self.cpu_bench / max(self.orders, 1), self.cpu_server / max(self.orders, 1)
        if not py:
            return 0.0
        return min(1 / py, (os.cpu_count() or 1) / (py + srv))


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_pid() -> int | None:
    """The dev server: the `temporal` child process of this one."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        if int(stat.rsplit(")", 1)[1].split()[1]) == me and name.startswith("temporal"):
            return int(entry.name)
    return None


# --- reading histories -------------------------------------------------------------------------------------


@dataclass
class HistoryStats:
    """Per-run averages over a sample of histories."""

    runs: int = 0
    events: Counter[str] = field(default_factory=Counter)
    totals: list[int] = field(default_factory=list)
    bytes: list[int] = field(default_factory=list)

    def add(self, events: Sequence[Any], size: int) -> None:
        self.runs += 1
        self.totals.append(len(events))
        self.bytes.append(size)
        for e in events:
            self.events[EventType.Name(e.event_type).removeprefix("EVENT_TYPE_")] += 1

    def per_run(self, *kinds: str) -> float:
        return sum(self.events[k] for k in kinds) / self.runs if self.runs else 0.0

    @property
    def mean(self) -> float:
        return sum(self.totals) / self.runs if self.runs else 0.0


def spread_sample(ids: Sequence[str], k: int) -> list[str]:
    """`k` ids spread evenly over the run (ids are in completion order): early, steady and late orders."""
    if k <= 0 or not ids:
        return []
    step = max(len(ids) / k, 1.0)
    return [ids[int(i * step)] for i in range(min(k, len(ids)))]


async def sample_histories(client: Client, ids: Sequence[str], *, children: bool) -> tuple[HistoryStats, HistoryStats]:
    parents, kids = HistoryStats(), HistoryStats()
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        parents.add(history.events, history.to_json().__len__())
        if not children:
            continue
        for e in history.events:
            if e.event_type == EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
                child_id = e.start_child_workflow_execution_initiated_event_attributes.workflow_id
                child = await client.get_workflow_handle(child_id).fetch_history()
                kids.add(child.events, child.to_json().__len__())
    return parents, kids


# --- report ----------------------------------------------------------------------------------------------------

TIMER_STARTED, TIMER_FIRED, TIMER_CANCELED = "TIMER_STARTED", "TIMER_FIRED", "TIMER_CANCELED"
ACTIVITIES = "ACTIVITY_TASK_SCHEDULED"
WFT = "WORKFLOW_TASK_COMPLETED"
SIGNALS_IN = "WORKFLOW_EXECUTION_SIGNALED"
SIGNALS_OUT = "SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED"
UPSERTS = "UPSERT_WORKFLOW_SEARCH_ATTRIBUTES"


def report(
    journey: RunResult,
    floor: RunResult | None,
    parent: HistoryStats,
    child: HistoryStats,
    floor_hist: HistoryStats | None,
    s: Schedule,
) -> None:
    def timers(h: HistoryStats) -> str:
        return (
            f"{h.per_run(TIMER_STARTED):.1f} ({h.per_run(TIMER_FIRED):.1f} fired, "
            f"{h.per_run(TIMER_CANCELED):.1f} cancelled)"
        )

    def p50(r: RunResult) -> float:
        return sorted(r.latencies)[len(r.latencies) // 2] if r.latencies else 0.0

    def kib(*hs: HistoryStats) -> str:
        return f"{sum(sum(h.bytes) / max(h.runs, 1) for h in hs) / 1024:.0f}"

    fh = floor_hist or HistoryStats()
    rows: list[tuple[str, str, Callable[[RunResult], str] | str]] = [
        ("orders completed", f"{journey.orders} (+{journey.failures} failed)", lambda r: f"{r.orders}"),
        ("wall seconds", f"{journey.seconds:.1f}", lambda r: f"{r.seconds:.1f}"),
        ("orders/s (middle 80% of completions)", f"[bold]{journey.rate:.2f}", lambda r: f"[bold]{r.rate:.2f}"),
        ("orders/s (all orders / wall)", f"{journey.overall_rate:.2f}", lambda r: f"{r.overall_rate:.2f}"),
        (
            "order latency p50 / ideal (s)",
            f"{p50(journey):.1f} / {s.ideal_latency:.0f}",
            lambda r: f"{p50(r):.1f} / {s.ideal_latency:.0f}",
        ),
        (
            "activities per order",
            f"{journey.activities / max(journey.orders, 1):.1f}",
            lambda r: f"{r.activities / max(r.orders, 1):.1f}",
        ),
        ("history events per order: parent", f"{parent.mean:.1f}", f"{fh.mean:.1f}"),
        ("history events per order: child", f"{child.mean:.1f}", "0"),
        ("history events per order: total", f"{parent.mean + child.mean:.1f}", f"{fh.mean:.1f}"),
        ("timers per order: parent", timers(parent), timers(fh)),
        ("timers per order: child", timers(child), "0"),
        (
            "on schedule: post-delivery timers fired",
            f"{parent.per_run(TIMER_FIRED):.1f} of {s.post_delivery_timers}",
            "-",
        ),
        ("workflow tasks per order", f"{parent.per_run(WFT) + child.per_run(WFT):.1f}", f"{fh.per_run(WFT):.1f}"),
        (
            "signals per order: received / child->parent",
            f"{parent.per_run(SIGNALS_IN) + child.per_run(SIGNALS_IN):.1f} / {child.per_run(SIGNALS_OUT):.1f}",
            "0 / 0",
        ),
        ("search attribute upserts per order", f"{parent.per_run(UPSERTS) + child.per_run(UPSERTS):.1f}", "0"),
        ("history JSON KiB per order", kib(parent, child), kib(fh)),
        (
            "CPU ms per order: worker+driver / dev server",
            f"{journey.per_order_ms(journey.cpu_bench):.0f} / {journey.per_order_ms(journey.cpu_server):.0f}",
            lambda r: f"{r.per_order_ms(r.cpu_bench):.0f} / {r.per_order_ms(r.cpu_server):.0f}",
        ),
        ("CPU ceiling (orders/s)", f"{journey.cpu_ceiling:.1f}", lambda r: f"{r.cpu_ceiling:.1f}"),
    ]
    table = Table(title=f"Aftercare journeys vs floor ({os.cpu_count()} cores)", header_style="bold")
    table.add_column("figure")
    table.add_column("journey", justify="right")
    table.add_column("floor", justify="right")
    for label, mine, theirs in rows:
        cell = "-" if floor is None else theirs(floor) if callable(theirs) else theirs
        table.add_row(label, mine, cell)
    console.print(table)

    breakdown = Table(title="History events per run, by type (sampled)", header_style="bold")
    breakdown.add_column("event type")
    breakdown.add_column("parent", justify="right")
    breakdown.add_column("child", justify="right")
    breakdown.add_column("floor", justify="right")
    kinds = sorted(set(parent.events) | set(child.events) | set(fh.events), key=lambda k: -parent.events[k])
    for kind in kinds:
        breakdown.add_row(
            kind.lower(), f"{parent.per_run(kind):.1f}", f"{child.per_run(kind):.1f}", f"{fh.per_run(kind):.1f}"
        )
    console.print(breakdown)

    verdicts = []
    fired = parent.per_run(TIMER_FIRED)
    # The tracking child reports only delays to its journey, so timers are the schedule's witness.
    if fired < 0.9 * s.post_delivery_timers:
        verdicts.append(
            f"[yellow]behind schedule: sampled journeys fired {fired:.1f} of {s.post_delivery_timers} post-delivery "
            f"timers; they skipped waits already due, so they did less work than a journey on a real (days-long) "
            f"schedule and the throughput ratio flatters them. Lower --concurrency or raise --scale.[/]"
        )
    if floor is not None and floor.rate and floor.cpu_ceiling:
        ratio, ceiling = journey.rate / floor.rate, journey.cpu_ceiling / floor.cpu_ceiling
        verdicts.append(
            f"journey/floor: throughput at equal load [bold {_colour(ratio)}]"
            f"{ratio:.2f}[/], CPU ceiling [bold {_colour(ceiling)}]{ceiling:.2f}[/] (target >= 0.70)"
        )
    colour = "green" if parent.mean <= 150 else "red"
    verdicts.append(
        f"parent history [bold {colour}]{parent.mean:.0f}[/] events for a single-parcel journey (target <= 150)"
    )
    for line in verdicts:
        console.print(line)


def _colour(ratio: float) -> str:
    return "green" if ratio >= 0.7 else "red"

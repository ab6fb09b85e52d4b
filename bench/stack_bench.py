"""The embedded stack as `aftercare up` runs it, started by a benchmark, with what the production benches share.

Used by bench/open_journeys.py, bench/black_friday.py and bench/push_latency.py (figures, not pass/fail):

- `EmbeddedStack`: the dev server on a SQLite file, the sandbox, N workers (`python -m worker`) and the API,
  planned by `aftercare.stack.plan_children` exactly as `aftercare up --workers N` plans them, under a fresh
  AFTERCARE_HOME on free ports, with one bench merchant's policy. The sandbox runs `--memory-only`: its
  persistence still serialises its trackers and texts once a second to see whether they changed (emails are
  appended), a stand-in's cost that grows with the run and would be charged to Aftercare on a shared CPU.
- `Journeys`: orders taken through the API as a store would send them (`POST /v1/orders`, then the parcel with
  `POST /v1/orders/{id}/shipments`), each parcel tracked through the sandbox's EasyPost, whose tracker is
  given its scans first (so the tracking child's first lookup finds it delivered, or in transit).
- carrier pushes signed in EasyPost's format, SMTP-sink reads, /proc readings and percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from temporalio.client import Client
from temporalio.service import RPCError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aftercare.stack import Child, StackError, _http_ok, _port_open, local_admin_token_file, plan_children, wait_until
from connectors.carriers.easypost import SIGNATURE_HEADER, sign
from sandbox.easypost import shapes
from sandbox.easypost.bodies import Scan
from sandbox.easypost.trackers import apply_scan

console = Console(log_path=False)
MERCHANT = "bench"


def add_stack_arguments(p: argparse.ArgumentParser, home_help: str) -> None:
    """The flags every stack bench shares: where the stack lives, whether to keep it, how many orders at once."""
    p.add_argument("--home", help=home_help)
    p.add_argument("--keep", action="store_true", help="keep the home (databases, logs) afterwards")
    p.add_argument("--concurrency", type=int, default=12, help="orders being taken at once (default 12)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def rss_mb(pid: int) -> float:
    """Resident memory of one process, from /proc (VmRSS, in MB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of one process so far, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sqlite_mb(path: Path) -> float:
    """A SQLite database's size on disk with its write-ahead log, in MB."""
    total = 0
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if p.exists():
            total += p.stat().st_size
    return total / 1e6


def mem_total_mb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentiles(samples: Sequence[float]) -> str:
    """p50/p95/p99 (and the max) of samples in seconds, printed in milliseconds."""
    if not samples:
        return "no samples"
    xs = sorted(samples)
    cuts = statistics.quantiles(xs, n=100, method="inclusive") if len(xs) > 1 else [xs[0]] * 99
    return (
        f"p50 {cuts[49] * 1000:,.0f} ms, p95 {cuts[94] * 1000:,.0f} ms, p99 {cuts[98] * 1000:,.0f} ms, "
        f"max {xs[-1] * 1000:,.0f} ms (n={len(xs)})"
    )


def quantile(samples: Sequence[float], q: float) -> float:
    xs = sorted(samples)
    return statistics.quantiles(xs, n=100, method="inclusive")[int(q * 100) - 1] if len(xs) > 1 else xs[0]


# --- the stack ----------------------------------------------------------------------------------------------


def bench_policy(*, follow_up: str, review: str, reminder: str = "7d", returns: str = "30d") -> str:
    """The bench merchant: email through the stack's SMTP relay (the sandbox's sink), tracked through EasyPost,
    no quiet hours or caps (they would move or drop the messages being timed), a real return window."""
    return f"""
version: 1
merchant: {{id: {MERCHANT}, name: Bench Goods, timezone: UTC}}
channels:
  email: {{provider: smtp, sender: "Bench Goods <orders@bench.test>"}}
defaults:
  quiet_hours: {{}}
  business_days: [mon, tue, wed, thu, fri, sat, sun]
  caps: {{}}
steps:
  confirmation: {{channels: [email]}}
  shipped: {{channels: [email]}}
  status_update: {{channels: [email], statuses: [out_for_delivery]}}
  delay_alert: {{channels: [email]}}
  delivered: {{channels: [email]}}
  follow_up: {{after: {follow_up}, channels: [email]}}
  review_request: {{after: {review}, reminder_after: {reminder}, channels: [email]}}
tracking: {{provider: easypost, poll_every: 6h, poll_max_interval: 12h}}
returns: {{window: {returns}}}
"""


@dataclass
class EmbeddedStack:
    """`aftercare up --workers N` under a fresh home, started and stopped by the bench (see the module doc)."""

    home: Path
    policy: str
    workers: int = 1
    keep: bool = False
    children: list[Child] = field(default_factory=list)
    token: str = ""

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        policies = self.home / "policies"
        policies.mkdir(exist_ok=True)
        (policies / f"{MERCHANT}.yaml").write_text(self.policy)
        os.environ.update(
            {
                "AFTERCARE_HOME": str(self.home),
                "AFTERCARE_POLICY_DIR": str(policies),
                "AFTERCARE_TEMPORAL_PORT": str(free_port()),
                "AFTERCARE_TEMPORAL_UI_PORT": str(free_port()),
                "AFTERCARE_API_PORT": str(free_port()),
                "AFTERCARE_SANDBOX_PORT": str(free_port()),
                "AFTERCARE_SMTP_PORT": str(free_port()),
            }
        )
        for variable in ("AFTERCARE_DATABASE_URL", "AFTERCARE_TEMPORAL_ADDRESS"):
            os.environ.pop(variable, None)
        from aftercare.settings import Settings

        self.settings = Settings()

    def start(self) -> None:
        """What `aftercare.stack.up` does before it supervises: upgrade the database, start the children in order,
        wait for each, make the admin token."""
        from aftercare.home import secure_home
        from aftercare.runtime import upgrade_database

        s = self.settings
        secure_home(s.home)
        upgrade_database(s)
        self.children = plan_children(s, self.workers)
        temporal, sandbox, *_, api = self.children
        sandbox.argv.append("--memory-only")  # see the module docstring
        temporal.start()
        wait_until("Temporal", _port_open(s.temporal_host, s.temporal_port), temporal)
        for child in self.children[1:]:
            child.start()
        wait_until("sandbox", _http_ok(f"{s.sandbox_url}/healthz"), sandbox)
        wait_until("API", _http_ok(f"{s.api_url}/healthz"), api)
        self.token = local_admin_token_file(s).read_text().strip()

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()
        if not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)

    @contextlib.contextmanager
    def running(self, starting: str = "starting the stack") -> Iterator[EmbeddedStack]:
        """The stack started (saying `starting` meanwhile) for the block, and stopped however the block ends, a
        start that failed halfway included (its children would outlive the bench)."""
        try:
            with console.status(starting):
                self.start()
            yield self
        finally:
            with console.status("stopping the stack"):
                self.stop()

    def pid(self, name: str) -> int:
        child = next(c for c in self.children if c.name == name)
        assert child.process is not None
        return child.process.pid

    @property
    def worker_pids(self) -> list[int]:
        return [self.pid(c.name) for c in self.children if c.name.startswith("worker")]

    def alive(self) -> list[str]:
        """Children that died (the bench does not restart them: a death is a finding)."""
        return [c.name for c in self.children if not c.alive()]

    @property
    def temporal_db(self) -> Path:
        return self.settings.home / "temporal.db"

    @property
    def our_db(self) -> Path:
        return Path(self.settings.database_url.removeprefix("sqlite:///"))

    def api(self, timeout: float = 60.0) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.AsyncClient(base_url=self.settings.api_url, headers=headers, timeout=timeout, limits=limits)

    def sandbox(self, timeout: float = 120.0) -> httpx.AsyncClient:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        return httpx.AsyncClient(base_url=self.settings.sandbox_url, timeout=timeout, limits=limits)

    async def temporal(self) -> Client:
        from aftercare.temporal_client import connect

        return await connect(self.settings, component="bench", give_up_after=30)

    def describe(self) -> str:
        s = self.settings
        return (
            f"stack: Temporal dev server (SQLite {self.temporal_db}), sandbox, {self.workers} worker(s), API at "
            f"{s.api_url}; home {s.home}"
        )


def fresh_home(given: str | None, prefix: str) -> Path:
    if given:
        path = Path(given)
        if path.exists() and any(path.iterdir()):
            raise StackError(f"--home {path} is not empty; give a fresh directory (the bench fills it)")
        return path
    return Path(tempfile.mkdtemp(prefix=f"aftercare-{prefix}-"))


# --- journeys ---------------------------------------------------------------------------------------------


def order_json(run: str, i: int, placed_at: datetime) -> dict[str, Any]:
    return {
        "merchant_id": MERCHANT,
        "order_id": f"{run}-{i:06d}",
        "placed_at": placed_at.isoformat(),
        "currency": "USD",
        "total": "54.00",
        "customer": {
            "id": f"cust-{run}-{i:06d}",
            "first_name": "Ada",
            "email": customer_email(run, i),
            "timezone": "UTC",
            "marketing_consent": True,
        },
        "shipping_address": {"country": "US"},
        "items": [{"id": "li-1", "sku": "BEANS-1", "name": "Beans", "quantity": 1, "unit_price": "54.00"}],
    }


def customer_email(run: str, i: int) -> str:
    return f"c{i}.{run}@example.com"


def tracking_code(run: str, i: int) -> str:
    return f"BN{run}{i:06d}".upper()


@dataclass
class Journeys:
    """Orders through the API, each with one parcel the sandbox's EasyPost already knows."""

    api: httpx.AsyncClient
    sandbox: httpx.AsyncClient
    run: str = field(default_factory=lambda: secrets.token_hex(3))

    async def open(
        self,
        i: int,
        *,
        scans: Sequence[tuple[str, datetime]],
        placed_at: datetime | None = None,
    ) -> str:
        """One journey: the parcel's scans given to the tracking provider (no push: the child's first lookup finds
        them), the order, its parcel. Returns the order id."""
        code = tracking_code(self.run, i)
        for status, at in scans:
            r = await self.sandbox.post(
                f"/_sandbox/easypost/trackers/{code}/scan",
                json={"status": status, "datetime": at.isoformat(), "deliver_webhook": False},
            )
            r.raise_for_status()
        order = order_json(self.run, i, placed_at or datetime.now(UTC))
        r = await self.api.post("/v1/orders", json=order)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"POST /v1/orders {r.status_code}: {r.text[:300]}")
        shipment = {"carrier": "USPS", "provider": "easypost", "tracking_number": code}
        r = await self.api.post(f"/v1/orders/{order['order_id']}/shipments", json=shipment)
        if r.status_code not in (200, 201):
            raise RuntimeError(f"POST shipments {r.status_code}: {r.text[:300]}")
        return str(order["order_id"])


async def run_bounded(
    n: int, concurrency: int, one: Callable[[int], Awaitable[Any]], on_done: Callable[[int, int], None]
) -> list[int]:
    """`one(i)` for i in 0..n-1, at most `concurrency` at once; `on_done(done, failed)` after each. Returns the
    indexes that failed (each printed once)."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    failed: list[int] = []
    done = 0

    async def lane() -> None:
        nonlocal done
        while not queue.empty():
            i = queue.get_nowait()
            try:
                await one(i)
            except Exception as err:  # counted and shown: a failure is a finding, not a crash
                failed.append(i)
                if len(failed) <= 5:
                    console.print(f"[red]journey {i} failed: {err!r}")
            done += 1
            on_done(done, len(failed))

    await asyncio.gather(*(lane() for _ in range(min(concurrency, n))))
    return failed


async def fill_with_progress(total: int, concurrency: int, one: Callable[[int], Awaitable[Any]]) -> list[int]:
    """`run_bounded` behind a "filling" progress bar. Returns the indexes that failed."""
    columns = (TextColumn("[bold]filling"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("fill", total=total)
        return await run_bounded(total, concurrency, one, lambda done, _failed: progress.update(task, completed=done))


async def count_journeys(client: Client, query: str) -> int:
    """Temporal's count for a visibility query; an overloaded dev server that times out is asked again."""
    for attempt in range(10):
        try:
            return (await client.count_workflows(query)).count
        except RPCError as err:
            if attempt == 9:
                raise
            console.print(f"[yellow]counting journeys: {err.message}; asking again")
            await asyncio.sleep(5.0)
    raise AssertionError("unreachable")


async def wait_for_count(
    client: Client, query: str, target: int, timeout: float, progress: Callable[[int], None] | None = None
) -> int:
    """Poll Temporal's visibility until `query` counts at least `target` workflows (or time runs out)."""
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        count = await count_journeys(client, query)
        if progress:
            progress(count)
        if count >= target:
            break
        await asyncio.sleep(2.0)
    return count


WAITING = "WorkflowType='OrderJourney' AND ExecutionStatus='Running' AND AftercareStage='post_delivery'"
TRACKING = "WorkflowType='ShipmentTracking' AND ExecutionStatus='Running'"


# --- the SMTP sink and carrier pushes ---------------------------------------------------------------------


@dataclass(frozen=True)
class Accepted:
    to: str
    subject: str
    at: datetime


async def sink_emails(sandbox: httpx.AsyncClient) -> list[Accepted]:
    """Every email the sandbox's SMTP sink accepted (its outbox), with the time it accepted each."""
    r = await sandbox.get("/outbox.json")
    r.raise_for_status()
    return [Accepted(e["to"], e["subject"], datetime.fromisoformat(e["received_at"])) for e in r.json()["emails"]]


async def clear_sink(sandbox: httpx.AsyncClient) -> None:
    (await sandbox.delete("/outbox")).raise_for_status()


def easypost_push(code: str, scans: Sequence[tuple[str, datetime]], webhook_url: str) -> bytes:
    """A `tracker.updated` Event in EasyPost's format (the sandbox's shapes), its tracker carrying `scans`."""
    tracker = shapes.tracker(code, "USPS", f"https://track.example/{code}")
    previous = None
    for status, at in scans:
        previous = tracker["status"]
        apply_scan(tracker, Scan(status=status, datetime=at))
    return json.dumps(shapes.event(tracker, previous, webhook_url)).encode()


def signed_headers(body: bytes, secret: str) -> dict[str, str]:
    return {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}


def since(start: datetime, at: datetime) -> float:
    return (at - start) / timedelta(seconds=1)

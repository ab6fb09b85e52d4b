"""Carrier push to email accepted by the SMTP sink: latency at a fixed rate of pushes per second (open loop).

    .venv/bin/python bench/push_latency.py [--rates 20 100] [--seconds 30] [--home DIR] [--keep]

On a fresh embedded stack (bench/stack_bench.py), the bench first opens enough journeys for every push (orders
and parcels through the API; the sandbox's EasyPost reports each parcel in transit, so every tracking child
waits for scans). Then, for each rate, it sends one push per parcel at its scheduled instant, whatever the
previous ones are doing (open loop): a `tracker.updated` Event in EasyPost's format, signed with the webhook
secret (`X-Hmac-Signature`), POSTed to the API's `/v1/carriers/easypost/events`, saying the parcel was
delivered. The customer's "delivered" email is what the bench waits for: latency = the sink's acceptance time
minus the instant the push was sent. It prints p50/p99 of that, of the API's answer, and the rate achieved.
Figures, not pass/fail; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from stack_bench import (
    EmbeddedStack,
    Journeys,
    add_stack_arguments,
    bench_policy,
    clear_sink,
    console,
    count_journeys,
    customer_email,
    easypost_push,
    fill_with_progress,
    fresh_home,
    load_average,
    percentiles,
    signed_headers,
    since,
    sink_emails,
    tracking_code,
)

DELIVERED_SUBJECT = "has been delivered"  # templates/delivered/email.en.j2
WAITING_FOR_SCANS = (
    "WorkflowType='ShipmentTracking' AND ExecutionStatus='Running' AND AftercareCarrierStatus='in_transit'"
)


@dataclass
class Push:
    index: int
    sent_at: datetime | None = None
    answered: float | None = None  # seconds the API took to answer
    status: int | None = None


async def phase(
    stack: EmbeddedStack, journeys: Journeys, first: int, rate: float, seconds: float, settle: float
) -> str:
    """`rate` pushes a second for `seconds`, to parcels first, first+1, ...; then the latencies."""
    n = int(rate * seconds)
    url = f"{stack.settings.api_url}/v1/carriers/easypost/events"
    secret = stack.settings.easypost_webhook_secret
    pushes = [Push(first + k) for k in range(n)]
    limits = httpx.Limits(max_connections=500, max_keepalive_connections=500)
    async with httpx.AsyncClient(timeout=60, limits=limits) as carrier, stack.sandbox() as sandbox:
        await clear_sink(sandbox)
        shipped = datetime.now(UTC) - timedelta(hours=12)

        async def send(push: Push) -> None:
            now = datetime.now(UTC)
            code = tracking_code(journeys.run, push.index)
            body = easypost_push(code, [("in_transit", shipped), ("delivered", now)], url)
            push.sent_at = now
            t0 = time.perf_counter()
            try:
                r = await carrier.post(url, content=body, headers=signed_headers(body, secret))
                push.status = r.status_code
            except httpx.HTTPError:
                push.status = -1
            push.answered = time.perf_counter() - t0

        columns = (TextColumn(f"[bold]{rate:g}/s"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("push", total=n)
            start = time.perf_counter()
            tasks = []
            for k, push in enumerate(pushes):
                delay = start + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(push)))
                progress.update(task, completed=k + 1)
            sending = time.perf_counter() - start
            await asyncio.gather(*tasks)
        achieved = (n - 1) / sending if sending > 0 else float(n)
        refused = [p for p in pushes if p.status != 202]
        # every delivered email in, or `settle` seconds past the last push
        by_address: dict[str, datetime] = {}
        deadline = time.monotonic() + settle
        with console.status("waiting for the delivered emails"):
            while time.monotonic() < deadline:
                by_address = {}
                for e in await sink_emails(sandbox):
                    if DELIVERED_SUBJECT in e.subject:
                        by_address.setdefault(e.to.rsplit("<", 1)[-1].rstrip(">").strip(), e.at)
                if len(by_address) >= n - len(refused):
                    break
                await asyncio.sleep(2.0)
    latencies: list[float] = []
    for p in pushes:
        at = by_address.get(customer_email(journeys.run, p.index))
        if at is not None and p.sent_at is not None:
            latencies.append(since(p.sent_at, at))
    answers = [p.answered for p in pushes if p.answered is not None]
    line = (
        f"{rate:g}/s asked, {achieved:.1f}/s achieved over {sending:.0f} s; {n - len(refused):,} of {n:,} pushes "
        f"accepted (202), {len(latencies):,} delivered emails accepted by the sink\n"
        f"  push -> email accepted: {percentiles(latencies)}\n  push -> API's answer: {percentiles(answers)}"
    )
    if refused:
        line += f"\n  refused: {sorted({p.status or 0 for p in refused})}"
    console.print(f"[bold]{line}[/]\nload average: {load_average()}")
    return line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rates", type=float, nargs="+", default=[20, 100], help="pushes per second, a phase each")
    p.add_argument("--seconds", type=float, default=30, help="length of each phase (default 30)")
    p.add_argument("--settle", type=float, default=300, help="seconds to wait for the last email (default 300)")
    add_stack_arguments(p, "a fresh AFTERCARE_HOME for the stack (default: a new temporary directory)")
    return p.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    total = sum(int(rate * args.seconds) for rate in args.rates)
    home = fresh_home(args.home, "push")
    stack = EmbeddedStack(
        home, bench_policy(follow_up="3d", review="7d", returns="30d"), keep=args.keep or bool(args.home)
    )
    console.print(
        f"[bold]push latency[/]: rates {', '.join(f'{r:g}/s' for r in args.rates)}, {args.seconds:g} s each, "
        f"{total:,} parcels waiting for scans; load average {load_average()}\n{stack.describe()}"
    )
    with stack.running():
        client = await stack.temporal()
        async with stack.api() as api, stack.sandbox() as sandbox:
            journeys = Journeys(api, sandbox)
            started = time.monotonic()

            async def one(i: int) -> None:
                shipped = datetime.now(UTC) - timedelta(hours=12)
                await journeys.open(i, scans=[("in_transit", shipped)])

            failed = await fill_with_progress(total, args.concurrency, one)
            with console.status("waiting for every tracking child to have looked its parcel up"):
                while (ready := await count_journeys(client, WAITING_FOR_SCANS)) < total - len(failed):
                    if time.monotonic() - started > 3600:
                        break
                    await asyncio.sleep(2.0)
            console.print(f"{ready:,} parcels waiting for scans after {time.monotonic() - started:.0f} s")
            lines, first = [], 0
            for rate in args.rates:
                await asyncio.sleep(5)  # the fill's last emails out of the way
                lines.append(await phase(stack, journeys, first, rate, args.seconds, args.settle))
                first += int(rate * args.seconds)
        console.print("\n[bold]summary[/]")
        for line in lines:
            console.print(line)
        console.print(f"load average at the end: {load_average()}")
        return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

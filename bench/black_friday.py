"""The Black Friday wave: N journeys whose review requests all fall due in the same minute, and how long until the
SMTP sink has accepted the last of them, with one worker and with several (`aftercare up --workers N`).

    .venv/bin/python bench/black_friday.py [--journeys 2000] [--workers 1 3] [--lead 1200] [--keep]

For each worker count, a fresh embedded stack (bench/stack_bench.py). Every order is taken through the API two
days before the due minute with its parcel, which the sandbox's EasyPost reports delivered one day before it;
the policy asks for the review request one day after delivery, so every journey's request is due at the same
instant (the due minute, `--lead` seconds after the bench starts: the fill must end before it). The bench waits
for every journey to reach the post-delivery plan, empties the sink, and from the due minute reads the sink's
outbox (the time it accepted each message) until every review request is in. It prints the time from the due
minute to the last one accepted, the throughput (messages/s) and each message's lateness (p50, p99).
Figures, not pass/fail; see docs/PERFORMANCE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    fill_with_progress,
    fresh_home,
    load_average,
    quantile,
    since,
    sink_emails,
)

REVIEW_SUBJECT = "How do you like"  # templates/review_request/email.en.j2


def due_minute(lead: float) -> datetime:
    """The start of the first whole minute at least `lead` seconds from now."""
    at = datetime.now(UTC) + timedelta(seconds=lead)
    return at.replace(second=0, microsecond=0) + timedelta(minutes=1)


async def wave(workers: int, args: argparse.Namespace) -> str:
    """One run: fill, wait for the due minute, watch the sink. Returns the summary line."""
    home = fresh_home(f"{args.home}-{workers}w" if args.home else None, f"bf{workers}")
    stack = EmbeddedStack(
        home,
        bench_policy(follow_up="20h", review="1d", returns="30d"),
        workers=workers,
        keep=args.keep or bool(args.home),
    )
    lead = args.lead if args.lead is not None else args.journeys * 0.5 + 120
    with stack.running(f"starting the stack with {workers} worker(s)"):
        due = due_minute(lead)
        delivered, placed = due - timedelta(days=1), due - timedelta(days=2)
        console.print(
            f"\n[bold]{workers} worker(s)[/]: {args.journeys:,} review requests due at {due:%H:%M:%S} UTC "
            f"({since(datetime.now(UTC), due):.0f} s from now); load average {load_average()}"
        )
        client = await stack.temporal()
        async with stack.api() as api, stack.sandbox() as sandbox:
            journeys = Journeys(api, sandbox)
            started = time.monotonic()

            async def one(i: int) -> None:
                await journeys.open(i, scans=[("in_transit", placed), ("delivered", delivered)], placed_at=placed)

            failed = await fill_with_progress(args.journeys, args.concurrency, one)
            expected = args.journeys - len(failed)
            with console.status("waiting for every journey to reach the post-delivery plan"):
                while (waiting := await count_journeys(client, WAITING)) < expected and datetime.now(UTC) < due:
                    await asyncio.sleep(2.0)
            filled = time.monotonic() - started
            console.print(
                f"filled {waiting:,} of {expected:,} journeys in {filled:.0f} s ({waiting / filled:.1f}/s); "
                f"{since(datetime.now(UTC), due):.0f} s before the due minute"
            )
            if datetime.now(UTC) >= due:
                console.print("[yellow]the fill ran past the due minute: raise --lead; the lateness includes the fill")
            await clear_sink(sandbox)  # confirmations, follow-ups: not the wave
            await asyncio.sleep(max(0.0, since(datetime.now(UTC), due)))
            console.print(f"due minute; load average {load_average()}")
            reviews: list[datetime] = []
            deadline = time.monotonic() + args.timeout
            columns = (TextColumn("[bold]accepted"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                task = progress.add_task("sink", total=expected)
                while time.monotonic() < deadline:
                    reviews = [e.at for e in await sink_emails(sandbox) if e.subject.startswith(REVIEW_SUBJECT)]
                    progress.update(task, completed=len(reviews))
                    if len(reviews) >= expected or stack.alive():
                        break
                    await asyncio.sleep(args.poll)
        if dead := stack.alive():
            console.print(f"[red]{', '.join(dead)} died; see {stack.home}/logs")
        if not reviews:
            return f"{workers} worker(s): no review request accepted within {args.timeout:.0f} s"
        lateness = sorted(since(due, at) for at in reviews)
        last = lateness[-1]
        line = (
            f"{workers} worker(s): {len(reviews):,} of {expected:,} review requests accepted; the last "
            f"{last:.0f} s after the due minute; {len(reviews) / max(last, 1e-9):.1f} messages/s; lateness p50 "
            f"{quantile(lateness, 0.5):.0f} s, p99 {quantile(lateness, 0.99):.0f} s"
        )
        console.print(f"[bold]{line}[/]\nload average after the wave: {load_average()}")
        return line


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--journeys", type=int, default=2000, help="review requests due in the same minute (2000)")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 3], help="worker counts, one run each (1 3)")
    p.add_argument(
        "--lead", type=float, default=None, help="seconds to the due minute (default 0.5 s per journey + 120)"
    )
    add_stack_arguments(p, "AFTERCARE_HOME prefix (each run gets <home>-<N>w; default: temporary)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the last request (1800)")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between reads of the sink (default 5)")
    return p.parse_args(argv)


async def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    console.print(f"[bold]Black Friday[/]: load average {load_average()}; code {Path(__file__).resolve().parent}")
    lines = [await wave(workers, args) for workers in args.workers]
    console.print("\n[bold]summary[/]")
    for line in lines:
        console.print(line)
    console.print(f"load average at the end: {load_average()}")
    return 0 if all("accepted;" in line for line in lines) else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

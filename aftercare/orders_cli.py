"""`aftercare orders list`: which journeys are where, from Temporal's visibility, through the API.

For engineers and support in a terminal: the same filters as `GET /v1/orders`, a table of orders, the count
per stage, and the page token for the next page.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from aftercare.settings import Settings
from aftercare.support_cli import CliError, call, open_api
from aftercare.terminal import wide_console
from domain import DelayKind, TrackingStatus
from workflows.models import Stage


def register(sub: Any) -> None:
    orders = sub.add_parser("orders", help="find journeys by stage, delay, merchant or carrier status")
    orders_sub = orders.add_subparsers(dest="orders_command", required=True)
    listing = orders_sub.add_parser("list", help="orders matching the filters, with counts per stage")
    listing.add_argument("--merchant", metavar="ID")
    listing.add_argument("--stage", choices=[s.value for s in Stage])
    delayed = listing.add_mutually_exclusive_group()
    delayed.add_argument("--delayed", dest="delayed", action="store_const", const=True, help="only delayed orders")
    delayed.add_argument("--on-time", dest="delayed", action="store_const", const=False, help="only undelayed ones")
    listing.add_argument("--delay-kind", choices=[k.value for k in DelayKind])
    listing.add_argument("--carrier-status", choices=[s.value for s in TrackingStatus], help="any parcel in it")
    listing.add_argument("--customer", metavar="ID", help="the store's customer id")
    running = listing.add_mutually_exclusive_group()
    running.add_argument("--running", dest="running", action="store_const", const=True, help="journeys still running")
    running.add_argument("--ended", dest="running", action="store_const", const=False, help="journeys that ended")
    listing.add_argument("--page-size", type=int, default=50, metavar="N", help="1 to 200 (default 50)")
    listing.add_argument("--page-token", metavar="TOKEN", help="from the previous page's last line")


def params_for(args: argparse.Namespace) -> dict[str, Any]:
    wanted = {
        "merchant": args.merchant,
        "stage": args.stage,
        "delayed": None if args.delayed is None else str(args.delayed).lower(),
        "delay_kind": args.delay_kind,
        "carrier_status": args.carrier_status,
        "customer": args.customer,
        "running": None if args.running is None else str(args.running).lower(),
        "page_size": args.page_size,
        "page_token": args.page_token,
    }
    return {k: v for k, v in wanted.items() if v is not None}


def run(args: argparse.Namespace, settings: Settings, *, console: Console | None = None) -> int:
    console = console or wide_console()
    try:
        with open_api(settings) as api:
            answer: dict[str, Any] = call(api, "GET", "/v1/orders", params=params_for(args))
    except CliError as err:
        console.print(f"[bold red]refused[/]: {err}")
        return 1
    show(answer, console)
    return 0


def show(answer: dict[str, Any], console: Console) -> None:
    orders = answer["orders"]
    if orders:
        table = Table(title=f"{len(orders)} order(s)", header_style="bold")
        for column in ("order", "merchant", "stage", "delayed", "value", "started (UTC)", "journey"):
            table.add_column(column)
        for o in orders:
            kinds = ", ".join(o["delay_kinds"]) if o["delay_kinds"] else ""
            table.add_row(
                o["order_id"],
                o["merchant_id"] or "",
                o["stage"] or "?",
                f"[yellow]yes[/] {kinds}".strip() if o["delayed"] else "no",
                "" if o["order_value"] is None else f"{o['order_value']:.2f}",
                o["started_at"][:19].replace("T", " "),
                "running" if o["running"] else "ended",
            )
        console.print(table)
    else:
        console.print("no orders match")
    counts = Table(title="journeys per stage (under these filters)", header_style="bold")
    counts.add_column("stage")
    counts.add_column("journeys", justify="right")
    for stage in Stage:
        if stage.value in answer["counts"]:
            counts.add_row(stage.value, str(answer["counts"][stage.value]))
    console.print(counts)
    if answer.get("parcel_query"):
        console.print(f"parcel query: {answer['parcel_query']}", style="dim", markup=False)
    if answer.get("query"):
        console.print(f"query: {answer['query']}", style="dim", markup=False)
    else:
        console.print("no parcel is in that carrier status, so no journey query was run", style="dim")
    if answer.get("next_page_token"):
        console.print(f"more: --page-token {answer['next_page_token']}")

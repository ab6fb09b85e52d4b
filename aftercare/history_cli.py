"""What happened to an order, from its Temporal histories, through the API.

- `aftercare inspect ORDER`: the timeline, a line per thing that happened (messages, scans, delays, waits,
  signals and Updates with who sent them, failures), with what is planned next.
- `aftercare history export ORDER > file.json`: the raw histories, the bundle `tests/histories/` holds
  (payloads encrypted), for a bug report or a replay test (docs/CHANGING_JOURNEYS.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from aftercare.settings import Settings
from aftercare.support_cli import CliError, call, open_api, problem_of
from aftercare.terminal import wide_console
from domain import parcel_of_workflow_id


def register(sub: Any) -> None:
    history = sub.add_parser("history", help="an order's raw Temporal histories")
    history_sub = history.add_subparsers(dest="history_command", required=True)
    export = history_sub.add_parser("export", help="write the journey's and its parcels' histories as JSON")
    export.add_argument("order", help="order number")
    export.add_argument("--merchant", metavar="ID", help="needed only when several merchants share the order number")
    export.add_argument("-o", "--output", type=Path, help="a file to write (default: standard output)")
    inspect = sub.add_parser("inspect", help="what happened to an order and why: its timeline from the histories")
    inspect.add_argument("order", help="order number")
    inspect.add_argument("--merchant", metavar="ID", help="needed only when several merchants share the order number")
    inspect.add_argument("--kind", action="append", metavar="KIND", help="only these kinds (message, delay, ...)")
    inspect.add_argument("--links", action="store_true", help="show each entry's Temporal Web UI link")


KIND_STYLES = {"message": "green", "delay": "yellow", "failure": "red", "update": "cyan", "tracking": "blue"}


def inspect(args: argparse.Namespace, settings: Settings, *, console: Console | None = None) -> int:
    """The order's timeline as a table; `--kind` narrows it, `--links` adds each event's Web UI link."""
    console = console or wide_console()
    params = {"merchant_id": args.merchant} if args.merchant else {}
    try:
        with open_api(settings) as api:
            timeline: dict[str, Any] = call(api, "GET", f"/v1/orders/{args.order}/timeline", params=params)
    except CliError as err:
        console.print(f"[bold red]refused[/]: {err}")
        return 1
    entries = [e for e in timeline["entries"] if not args.kind or e["kind"] in args.kind]
    table = Table(
        title=f"{timeline['workflow_id']}: {timeline['runs']} run(s), {timeline['events']} events",
        header_style="bold",
    )
    for column in ("when (UTC)", "kind", "where", "who", "what"):
        table.add_column(column)
    if args.links:
        table.add_column("Web UI")
    for e in entries:
        style = KIND_STYLES.get(e["kind"], "")
        where = "journey" if e["workflow_id"] == timeline["workflow_id"] else parcel_of_workflow_id(e["workflow_id"])
        kind = f"[{style}]{e['kind']}[/]" if style else e["kind"]
        row = [e["at"][:19].replace("T", " "), kind, where, e.get("by") or "", e["summary"]]
        if args.links:
            row.append(e.get("link") or "")
        table.add_row(*row)
    console.print(table)
    return 0


def run(
    args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None, console: Console | None = None
) -> int:
    console = console or wide_console(stderr=True)
    params = {"merchant_id": args.merchant} if args.merchant else {}
    try:
        with open_api(settings) as api:
            response = api.get(f"/v1/orders/{args.order}/history", params=params)
            if response.status_code >= 400:
                raise CliError(problem_of(response))
    except CliError as err:
        console.print(f"[bold red]refused[/]: {err}")
        return 1
    if args.output:
        args.output.write_text(response.text)
        console.print(f"wrote {args.output} ({len(response.content) // 1024} KiB)")
    else:
        (out or sys.stdout).write(response.text)
    return 0

"""`aftercare history export ORDER > file.json`: the order's raw Temporal histories, through the API.

The file is the bundle `tests/histories/` holds (payloads encrypted), so it can go with a bug report or become
a replay test (docs/CHANGING_JOURNEYS.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console

from aftercare.settings import Settings
from aftercare.support_cli import CliError, open_api, problem_of


def register(sub: Any) -> None:
    history = sub.add_parser("history", help="an order's raw Temporal histories")
    history_sub = history.add_subparsers(dest="history_command", required=True)
    export = history_sub.add_parser("export", help="write the journey's and its parcels' histories as JSON")
    export.add_argument("order", help="order number")
    export.add_argument("--merchant", metavar="ID", help="needed only when several merchants share the order number")
    export.add_argument("-o", "--output", type=Path, help="a file to write (default: standard output)")


def run(
    args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None, console: Console | None = None
) -> int:
    console = console or Console(stderr=True)
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

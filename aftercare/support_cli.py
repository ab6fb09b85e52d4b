"""`aftercare refund|exchange|cancel|pause|resume|opt-out|note|actions ORDER ...`: support's actions from a terminal.

It speaks to the running API (AFTERCARE_API_URL, default the local one) with the token in AFTERCARE_TOKEN
(an environment variable, never an argument: arguments show up in `ps` and shell history), so a terminal
gets exactly the checks, refusals and audit records the console and the API give.
"""

from __future__ import annotations

import argparse
import os
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from aftercare.local_token import token_path
from aftercare.settings import Settings
from aftercare.terminal import wide_console
from domain import RefundReason

COMMANDS = ("refund", "exchange", "cancel", "pause", "resume", "opt-out", "note", "actions")


class CliError(Exception):
    """A problem with what was typed (or with the API's answer), printed in one line without a traceback."""


def register(sub: Any) -> None:
    """Add the support commands to the `aftercare` argument parser."""

    def order_command(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help)
        parser.add_argument("order", help="order number")
        parser.add_argument("--merchant", help="merchant id, when several merchants share the order number")
        parser.add_argument("--note", default="", help="a note kept with the action")
        return parser

    refund = order_command("refund", "refund an order, some items, or an amount")
    refund.add_argument("--items", help="item ids with quantities: li-1:2,li-2 (quantity 1 when left out)")
    refund.add_argument("--amount", help="an amount in the order's currency, e.g. 12.50")
    refund.add_argument("--reason", required=True, choices=[r.value for r in RefundReason])
    refund.add_argument("--key", help="idempotency key; repeat a refund with the same key to retry it safely")

    exchange = order_command("exchange", "exchange delivered items for a replacement, with a return label")
    exchange.add_argument(
        "--item", action="append", required=True, metavar="ITEM:SKU[:QTY]", help="e.g. li-1:DRESS-M-BLUE (repeatable)"
    )
    exchange.add_argument("--reason", default="")
    exchange.add_argument("--key", help="idempotency key; repeat with the same key to retry safely")

    cancel = order_command("cancel", "cancel an order that has not shipped (refunds per policy)")
    cancel.add_argument("--reason", required=True, help="why, in words the customer may read")

    pause = order_command("pause", "hold back this order's messages")
    pause.add_argument("--until", help="ISO time with its UTC offset to resume by itself, e.g. 2026-12-01T09:00:00Z")
    order_command("resume", "send this order's messages again")
    opt_out = order_command("opt-out", "no more messages on these channels for this order")
    opt_out.add_argument("--channel", action="append", required=True, choices=["email", "sms", "whatsapp"])
    note = order_command("note", "add a note to the order's record")
    note.add_argument("text")
    order_command("actions", "list every action taken or refused on the order")


def run(args: argparse.Namespace, settings: Settings, *, console: Console | None = None) -> int:
    console = console or wide_console()
    try:
        with open_api(settings) as api:
            if args.command == "actions":
                return _show_actions(api, args, console)
            path, body, headers = request_for(args)
            params = {"merchant_id": args.merchant} if args.merchant else {}
            answer = call(api, "POST", f"/v1/orders/{args.order}/{path}", json=body, headers=headers, params=params)
    except CliError as err:
        console.print(f"[bold red]refused[/]: {err}")
        return 1
    _show_result(answer, console)
    return 0


def open_api(settings: Settings) -> httpx.Client:
    """A client for the running API (AFTERCARE_API_URL) with the person's token (AFTERCARE_TOKEN)."""
    token = os.environ.get("AFTERCARE_TOKEN")
    if not token:
        raise CliError(
            "set AFTERCARE_TOKEN to your API token: create one with "
            "`aftercare token create --name YOU --role support` "
            f"(on the local stack, the admin token is in {token_path(settings)})"
        )
    base = os.environ.get("AFTERCARE_API_URL", settings.api_url).rstrip("/")
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)


def request_for(args: argparse.Namespace) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The API path, body and headers for a command line."""
    note = {"note": args.note} if args.note else {}
    if args.command == "refund":
        if args.items and args.amount:
            raise CliError("give --items or --amount, not both")
        body: dict[str, Any] = {"reason": args.reason, **note}
        if args.items:
            body["items"] = parse_items(args.items)
        if args.amount:
            body["amount"] = args.amount
        return "refunds", body, {"Idempotency-Key": args.key or f"cli-{uuid.uuid4()}"}
    if args.command == "exchange":
        items = [parse_exchange_item(spec) for spec in args.item]
        body = {"items": items, "reason": args.reason, **note}
        return "exchanges", body, {"Idempotency-Key": args.key or f"cli-{uuid.uuid4()}"}
    if args.command == "cancel":
        return "cancel", {"reason": args.reason, **note}, {}
    if args.command == "pause":
        return "pause", {"until": args.until, **note}, {}
    if args.command == "resume":
        return "resume", note, {}
    if args.command == "opt-out":
        return "opt-out", {"channels": args.channel, **note}, {}
    if args.command == "note":
        return "notes", {"text": args.text}, {}
    raise CliError(f"unknown command {args.command}; one of {', '.join(COMMANDS)}")


def parse_items(spec: str) -> dict[str, int]:
    """`li-1:2,li-2` -> {"li-1": 2, "li-2": 1}."""
    items: dict[str, int] = {}
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        item_id, _, qty = part.partition(":")
        try:
            items[item_id] = int(qty) if qty else 1
        except ValueError:
            raise CliError(f"--items {part!r}: quantity must be a whole number, as in li-1:2") from None
    if not items:
        raise CliError("--items needs at least one item id, as in li-1:2,li-2")
    return items


def parse_exchange_item(spec: str) -> dict[str, Any]:
    """`li-1:DRESS-M:2` -> {"item_id": "li-1", "replacement_sku": "DRESS-M", "quantity": 2}."""
    parts = spec.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise CliError(f"--item {spec!r}: write ITEM:SKU or ITEM:SKU:QTY, as in li-1:DRESS-M-BLUE:1")
    try:
        quantity = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise CliError(f"--item {spec!r}: quantity must be a whole number") from None
    return {"item_id": parts[0], "replacement_sku": parts[1], "quantity": quantity}


def call(api: httpx.Client, method: str, path: str, **kwargs: Any) -> Any:
    """The API's answer, or a CliError with its message and code."""
    try:
        response = api.request(method, path, **kwargs)
    except httpx.HTTPError as err:
        raise CliError(f"could not reach the API at {api.base_url}: {err}") from err
    if response.status_code >= 400:
        raise CliError(problem_of(response))
    return response.json()


def problem_of(response: httpx.Response) -> str:
    """The API's refusal in one line: its message, status and error code."""
    try:
        problem = response.json()
        return f"{problem.get('message', response.text)} ({response.status_code} {problem.get('error', '')})"
    except ValueError:
        return f"{response.status_code}: {response.text[:200]}"


def _show_result(answer: dict[str, Any], console: Console) -> None:
    result, state = answer["result"], answer.get("state") or {}
    mark = "[yellow]repeat[/] (same idempotency key: nothing new)" if result.get("repeated") else "[green]done[/]"
    console.print(f"{mark}: {result['summary']}")
    table = Table(show_header=False, box=None, padding=(0, 2))
    table.add_row("stage", str(state.get("stage", "?")))
    if result.get("refunded_total") is not None:
        table.add_row("refunded", f"{result['refunded_total']} {state.get('currency', '')}")
        table.add_row("still refundable", f"{result['refundable']} {state.get('currency', '')}")
    if refund := result.get("refund"):
        table.add_row("provider refund", f"{refund['provider']} {refund['provider_refund_id']} ({refund['status']})")
    if exchange := result.get("exchange"):
        table.add_row("return label", exchange["label"]["label_url"])
    if nxt := state.get("next_action"):
        table.add_row("next", f"{nxt['what']} at {nxt['due_at']}")
    console.print(table)


def _show_actions(api: httpx.Client, args: argparse.Namespace, console: Console) -> int:
    params = {"merchant_id": args.merchant} if args.merchant else {}
    entries: Sequence[dict[str, Any]] = call(api, "GET", f"/v1/orders/{args.order}/actions", params=params)
    table = Table(title=f"Actions on order {args.order}")
    for column in ("when (UTC)", "who", "action", "outcome", "what"):
        table.add_column(column)
    for e in entries:
        what = e["result"].get("summary") or e.get("reason") or ""
        style = {"done": "green", "refused": "yellow", "failed": "red"}.get(e["outcome"], "")
        table.add_row(
            e["at"][:19].replace("T", " "),
            f"{e['actor']['name']} ({e['actor']['role']})",
            e["action"],
            f"[{style}]{e['outcome']}[/]",
            what,
        )
    if not entries:
        console.print(f"no actions on order {args.order} yet")
    else:
        console.print(table)
    return 0

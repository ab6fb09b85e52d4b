"""`aftercare refund|exchange|cancel|pause|resume|opt-out|note|actions ORDER ...`: support's actions from a terminal.

It speaks to the running API (AFTERCARE_API_URL, default the local one) with the token in AFTERCARE_TOKEN
(an environment variable, never an argument: arguments show up in `ps` and shell history), so a terminal
gets exactly the checks, refusals and audit records the console and the API give.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from aftercare.local_token import token_path
from aftercare.settings import Settings
from aftercare.terminal import wide_console
from api.action_catalog import ACTIONS

_BY_COMMAND = {action.cli: action for action in ACTIONS}
COMMANDS = (*_BY_COMMAND, "actions")


class CliError(Exception):
    """A problem with what was typed (or with the API's answer), printed in one line without a traceback."""


def register(sub: Any) -> None:
    """Add the support commands to the `aftercare` argument parser: one per action of api/action_catalog.py."""

    def order_command(name: str, help: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = sub.add_parser(name, help=help)
        parser.add_argument("order", help="order number")
        parser.add_argument("--merchant", help="merchant id, when several merchants share the order number")
        parser.add_argument("--note", default="", help="a note kept with the action")
        return parser

    for action in ACTIONS:
        parser = order_command(action.cli, action.cli_help)
        for flag in action.flags:
            parser.add_argument(flag.name, **flag.options)
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
    token = settings.cli_token
    if not token:
        raise CliError(
            "set AFTERCARE_TOKEN (or AFTERCARE_TOKEN_FILE) to your API token: create one with "
            "`aftercare token create --name YOU --role support` "
            f"(on the local stack, the admin token is in {token_path(settings)})"
        )
    base = settings.cli_api_url or settings.api_url
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60.0)


def request_for(args: argparse.Namespace) -> tuple[str, dict[str, Any], dict[str, str]]:
    """The API path, body and headers for a command line."""
    action = _BY_COMMAND.get(args.command)
    if action is None:
        raise CliError(f"unknown command {args.command}; one of {', '.join(COMMANDS)}")
    given = [f.name for f in action.flags if f.name in action.exclusive and getattr(args, f.dest)]
    if len(given) > 1:
        raise CliError(f"give {' or '.join(given)}, not both")
    body: dict[str, Any] = {}
    for flag in action.flags:
        value = getattr(args, flag.dest)
        if flag.body_field is None or not (flag.always or value):
            continue
        try:
            body[flag.body_field] = flag.parse(value) if flag.parse is not None else value
        except ValueError as err:
            raise CliError(str(err)) from None
    if action.takes_note and args.note:
        body["note"] = args.note
    headers = {"Idempotency-Key": args.key or f"cli-{uuid.uuid4()}"} if action.keyed else {}
    return action.path, body, headers


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

"""`aftercare customer forget EMAIL|PHONE [--merchant M]` and `aftercare db prune [--dry-run]`: privacy operations.

`forget` erases a customer's personal data from the database on AFTERCARE_DATABASE_URL (storage.erasure), then
asks each of their running journeys to stop messaging them (the journeys' own `opt_out` Update, every channel, in
the operator's name), and prints what it did. Their Temporal histories keep the data, encrypted, until the
namespace's retention removes them: it says so. Exit status: 0 done (also when nobody has that address: forgetting
is safe to repeat), 1 a journey could not be told (the database part is done, and the send activity skips erased
orders' messages anyway: run it again once Temporal answers), 2 not an email address or phone number.

`prune` removes what outlived AFTERCARE_RETENTION_DAYS (storage.retention); the worker's daily schedule runs the
same thing (workflows.retention), so this is for a first run or a look (`--dry-run`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from rich.console import Console
from rich.table import Table

from aftercare.settings import Settings
from aftercare.temporal_retention import namespace_retention_days
from aftercare.terminal import wide_console
from domain import Actor, Channel, Role, journey_id

MAX_ADDRESS = 254  # RFC 5321's longest path; any phone number is far shorter
HISTORY_NOTE = (
    "Temporal still holds these journeys' histories, with the address encrypted (the codec's AES-GCM keys), until "
    "the namespace's retention removes them: {days} days after each journey closes."
)


class AddressError(ValueError):
    """What was typed is neither an email address nor a phone number in international form."""


def register(sub: Any) -> None:
    """Register `customer forget` on an argparse subparsers object (`db prune` is registered by db_cli)."""
    customer = sub.add_parser("customer", help="privacy: erase a customer's personal data")
    customer_sub = customer.add_subparsers(dest="customer_command", required=True)
    forget = customer_sub.add_parser(
        "forget", help="erase a customer's personal data and stop their running journeys' messages"
    )
    forget.add_argument("address", metavar="EMAIL|PHONE", help="their email address, or phone number (+4915112345678)")
    forget.add_argument("--merchant", metavar="ID", help="only this merchant's customer (default: every merchant's)")
    forget.add_argument("--actor", default="", help="who asks, for the audit log (default: this system user's name)")


def parse_address(text: str) -> tuple[str, str]:
    """("email", lower-cased address) or ("phone", E.164), as intake stores them; AddressError otherwise."""
    text = text.strip()
    if not text or len(text) > MAX_ADDRESS:
        raise AddressError(f"give an email address or a phone number (1 to {MAX_ADDRESS} characters)")
    if "@" in text:
        try:
            return "email", validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError as err:
            raise AddressError(f"not a valid email address: {err}") from None
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise AddressError(
            "neither an email address nor a phone number in international form ('+', country code, number: "
            "+4915112345678)"
        )
    return "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True)
class Stopped:
    """What one journey said to the opt-out: `ok` False means it was not reached."""

    merchant_id: str
    order_id: str
    outcome: str
    ok: bool = True


def forget_command(
    settings: Settings, address: str, merchant_id: str | None, actor_name: str = "", *, console: Console | None = None
) -> int:
    from aftercare.runtime import open_store

    console = console or wide_console()
    try:
        kind, value = parse_address(address)
    except AddressError as err:
        console.print(f"[bold red]refused[/]: {err}", highlight=False)
        return 2
    actor = Actor(name=actor_name.strip() or f"{_user()} (cli)", role=Role.ADMIN)
    store = open_store(settings)
    try:
        erasure = store.forget_customer(kind, value, actor, merchant_id)
    finally:
        store.close()
    scope = f" of merchant {merchant_id}" if merchant_id else ""
    if not erasure.found:
        console.print(f"0 customers found with that {kind}{scope}: nothing to erase.", markup=False)
        return 0
    stops = asyncio.run(_stop_journeys(settings, erasure.orders, actor))
    table = Table(title=f"Erased: {erasure.customers} customer record(s) with that {kind}{scope}")
    for column in ("merchant", "order", "journey"):
        table.add_column(column)
    for stop in stops:
        table.add_row(stop.merchant_id, stop.order_id, stop.outcome, style=None if stop.ok else "red")
    console.print(table)
    console.print(
        f"{len(erasure.orders)} order(s) scrubbed, {erasure.messages} outbox message(s) cleared, "
        f"{erasure.carrier_payloads} carrier webhook body(ies) deleted; the audit log records it without the {kind}.",
        markup=False,
    )
    console.print(HISTORY_NOTE.format(days=namespace_retention_days(settings)), markup=False)
    if not all(stop.ok for stop in stops):
        console.print(
            "Some journeys were not reached: their messages are skipped anyway (the orders are marked erased). "
            "Run the same command again once Temporal answers.",
            style="red",
            markup=False,
        )
        return 1
    return 0


async def _stop_journeys(settings: Settings, orders: list[Any], actor: Actor) -> list[Stopped]:
    """Opt each order's journey out of every channel, through its own `opt_out` Update (the journey then also
    tells its parcels' tracking); an ended journey has nothing left to send."""
    from temporalio.client import WorkflowUpdateFailedError
    from temporalio.service import RPCError, RPCStatusCode

    from aftercare.temporal_client import connect
    from workflows.commands import OptOutCommand
    from workflows.order_journey import OrderJourney

    try:
        client = await connect(settings, component="cli", give_up_after=10)
    except Exception as err:
        return [
            Stopped(o.merchant_id, o.order_id, f"not reached: Temporal unavailable ({err})", ok=False) for o in orders
        ]
    command = OptOutCommand(actor=actor, channels=list(Channel), note="customer data erased on request")
    stopped: list[Stopped] = []
    for order in orders:
        handle = client.get_workflow_handle(order.workflow_id or journey_id(order.merchant_id, order.order_id))
        try:
            _ = await handle.execute_update(OrderJourney.opt_out, command, id="erase-customer")
            outcome, ok = "messages stopped", True
        except WorkflowUpdateFailedError:  # refused: already opted out of every channel
            outcome, ok = "messages already stopped", True
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                outcome, ok = "ended: sends nothing more", True
            else:
                outcome, ok = f"not reached: {err.message}", False
        stopped.append(Stopped(order.merchant_id, order.order_id, outcome, ok))
    return stopped


def prune_command(settings: Settings, *, dry_run: bool = False, console: Console | None = None) -> int:
    from aftercare.runtime import open_store
    from storage.types import utcnow

    console = console or wide_console()
    cutoff = utcnow() - timedelta(days=settings.retention_days)
    store = open_store(settings)
    try:
        removed = store.prune(cutoff, dry_run=dry_run)
    finally:
        store.close()
    verb = "would change" if dry_run else "changed"
    table = Table(title=f"Older than {cutoff:%Y-%m-%d %H:%M} UTC (AFTERCARE_RETENTION_DAYS={settings.retention_days})")
    table.add_column("what")
    table.add_column(f"rows {verb}", justify="right")
    for name, rows in removed.items():
        table.add_row(name, str(rows))
    console.print(table)
    if dry_run:
        console.print("Dry run: nothing was changed.", markup=False)
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    return forget_command(settings, args.address, args.merchant, args.actor)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container)
        return "operator"

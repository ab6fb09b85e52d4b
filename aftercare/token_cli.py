"""`aftercare token create|list|revoke`: the API tokens people and services call Aftercare with.

Works on the database in AFTERCARE_DATABASE_URL, directly: no running API is needed, so the first admin
token can be made before anything else is up. A new token is printed once and never again (only its
hash is stored). Exit status: 0 done, 1 refused (name taken, nothing to revoke), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from aftercare.settings import Settings, load_settings
from aftercare.terminal import wide_console
from domain import Role

ROLES = ", ".join(r.value for r in Role)


def add_parser(sub: Any) -> None:
    """Register `token` and its subcommands on an argparse subparsers object."""
    token = sub.add_parser("token", help="API tokens: create, list, revoke")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="issue a token; it is printed once and never stored")
    create.add_argument("--name", required=True, help="who or what uses it; shows in the audit log")
    create.add_argument("--role", required=True, metavar="ROLE", help=f"one of: {ROLES}")
    create.add_argument("--merchant", metavar="ID", help="the merchant a merchant token acts for (merchant role only)")
    token_sub.add_parser("list", help="every token, revoked ones included; never the secret")
    revoke = token_sub.add_parser("revoke", help="stop a token working, at once")
    revoke.add_argument("name")


def run(args: argparse.Namespace, settings: Settings, *, console: Console | None = None) -> int:
    """Carry out a parsed `token` command against the settings' database."""
    console = console or wide_console()
    if args.token_command == "create":
        return create_command(settings, args.name, args.role, args.merchant, console=console)
    if args.token_command == "list":
        return list_command(settings, console=console)
    return revoke_command(settings, args.name, console=console)


def create_command(
    settings: Settings, name: str, role: str, merchant_id: str | None, *, console: Console | None = None
) -> int:
    console = console or wide_console()
    try:
        parsed = Role(role.strip().lower())
    except ValueError:
        return _fail(f"unknown role {role!r}: use one of {ROLES}", status=2)
    from storage import TokenNameTakenError

    with _store(settings) as store:
        try:
            issued = store.create_api_token(name, parsed, merchant_id)
        except ValueError as exc:
            return _fail(str(exc).replace("merchant_id", "--merchant"), status=2)
        except TokenNameTakenError as exc:
            return _fail(f"{exc} (`aftercare token revoke {name.strip()}`)")
    scope = f" for merchant {issued.merchant_id!r}" if issued.merchant_id else ""
    console.print(f"Created {issued.role.value} token {issued.name!r}{scope}:", markup=False, highlight=False)
    console.print()
    console.print(issued.token, markup=False, highlight=False, soft_wrap=True)
    console.print()
    console.print(
        Text("Copy it now: Aftercare stores only its hash, so it cannot be shown again.", style="bold yellow")
    )
    console.print("Send it as the header  Authorization: Bearer <token>", markup=False, highlight=False)
    return 0


def list_command(settings: Settings, *, console: Console | None = None) -> int:
    console = console or wide_console()
    with _store(settings) as store:
        tokens = store.list_api_tokens()
    if not tokens:
        console.print("No API tokens yet; create one with `aftercare token create --name NAME --role ROLE`.")
        return 0
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("name", "role", "merchant", "prefix", "created", "last used", "revoked"):
        table.add_column(column, no_wrap=True)
    for t in tokens:
        table.add_row(
            Text(t.name, style="dim" if t.revoked_at else ""),
            t.role.value,
            t.merchant_id or "-",
            f"{t.prefix}…",
            _when(t.created_at),
            _when(t.last_used_at, "never"),
            Text(_when(t.revoked_at, "-"), style="red" if t.revoked_at else ""),
        )
    console.print(table)
    return 0


def revoke_command(settings: Settings, name: str, *, console: Console | None = None) -> int:
    console = console or wide_console()
    with _store(settings) as store:
        revoked = store.revoke_api_token(name)
    if not revoked:
        return _fail(f"no active token named {name!r}; `aftercare token list` shows every token")
    console.print(f"Revoked token {name!r}: requests with it are refused from now on.", markup=False)
    return 0


@contextmanager
def _store(settings: Settings) -> Iterator[Any]:
    """The settings' store for one command, closed after it; a schema behind this code is refused
    (`aftercare db upgrade`)."""
    from aftercare.runtime import open_store

    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def _when(at: datetime | None, missing: str = "-") -> str:
    return missing if at is None else at.strftime("%Y-%m-%d %H:%M UTC")


def _fail(message: str, *, status: int = 1) -> int:
    """Print an error on stderr (stdout may be a file someone is saving a token to); return the status."""
    Console(stderr=True, highlight=False).print(Text(f"error: {message}", style="red"), soft_wrap=True)
    return status


def main(argv: list[str] | None = None) -> int:
    """`python -m aftercare.token_cli create|list|revoke` (the `aftercare` CLI calls `run`)."""
    parser = argparse.ArgumentParser(prog="aftercare", description="Aftercare API tokens")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["token", *(argv if argv is not None else sys.argv[1:])])
    return run(args, load_settings())


if __name__ == "__main__":
    sys.exit(main())

"""`aftercare db upgrade|current|prune`: the database schema (Alembic revisions under storage/alembic/), and retention.

Works on AFTERCARE_DATABASE_URL. `upgrade` brings it to this code's revision (an empty database gets the whole
schema; one made before Alembic, with a `schema_version` table, gets the old list's remaining steps, nothing lost);
run it before starting a new version's API and workers, which refuse a database that is behind. `aftercare up`
runs it by itself. `current` says where the database is. `prune` removes what outlived AFTERCARE_RETENTION_DAYS
(aftercare.privacy_cli; the worker's daily schedule does the same). Exit status: 0 done (current: at head), 1 refused or
behind, 2 bad arguments.
"""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from aftercare.settings import Settings
from aftercare.terminal import wide_console


def register(sub: Any) -> None:
    """Register `db` and its subcommands on an argparse subparsers object."""
    db = sub.add_parser("db", help="the database schema: upgrade it, or show its revision")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="bring AFTERCARE_DATABASE_URL's schema to this version's (safe to repeat)")
    db_sub.add_parser("current", help="show the database's schema revision and this version's; exit 1 if behind")
    prune = db_sub.add_parser(
        "prune", help="remove raw payloads, outbox addresses and delivery records older than AFTERCARE_RETENTION_DAYS"
    )
    prune.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")


def run(args: argparse.Namespace, settings: Settings, console: Console | None = None) -> int:
    from storage import SchemaError, current_revision, head_revision, make_engine, shown_url, upgrade

    console = console or wide_console()
    if args.db_command == "prune":
        from aftercare.privacy_cli import prune_command

        return prune_command(settings, dry_run=args.dry_run, console=console)
    where = shown_url(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        if args.db_command == "upgrade":
            before = current_revision(engine)
            try:
                now = upgrade(engine)
            except SchemaError as err:
                console.print(f"Refused: {err}", markup=False, style="red")
                return 1
            if before == now:
                console.print(f"{where}: already at revision {now} (head); nothing to do.", markup=False)
            else:
                console.print(f"{where}: upgraded from {before or 'nothing'} to revision {now} (head).", markup=False)
            return 0
        current, head = current_revision(engine), head_revision()
        if current == head:
            console.print(f"{where}: revision {current} (head).", markup=False)
            return 0
        console.print(
            f"{where}: revision {current or 'none'}; this version needs {head}. Run `aftercare db upgrade`.",
            markup=False,
        )
        return 1
    finally:
        engine.dispose()

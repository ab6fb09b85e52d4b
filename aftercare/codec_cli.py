"""`aftercare codec new-key|keys`: make a payload encryption key, and show which keys this process would use.

Rotation is a change of `AFTERCARE_CODEC_KEYS` on every worker and API (docs/DEPLOYMENT.md, "Rotating codec
keys"); these commands only make the new entry and show the order the keys are in. Neither prints a key that is
already configured: `keys` lists ids, and `new-key` prints a fresh key once, for you to put in your secrets.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from aftercare.codec import KEY_FILE, KEYS_ENV, CodecKeyError, CodecKeys, load_keys
from aftercare.settings import Settings
from aftercare.terminal import wide_console


def register(sub: Any) -> None:
    """Register `codec` and its subcommands on an argparse subparsers object."""
    codec = sub.add_parser("codec", help="payload encryption keys: make one, list the configured ones")
    codec_sub = codec.add_subparsers(dest="codec_command", required=True)
    new_key = codec_sub.add_parser("new-key", help=f"print a fresh id:base64-key entry for {KEYS_ENV}")
    new_key.add_argument(
        "--id", dest="key_id", default=None, help="the key's id (default: today's date, e.g. 2026-11-29)"
    )
    codec_sub.add_parser("keys", help="list the configured key ids, newest (the one that encrypts) first")


def run(args: argparse.Namespace, settings: Settings, console: Console | None = None) -> int:
    console = console or wide_console()
    if args.codec_command == "new-key":
        key_id = args.key_id or datetime.now(UTC).date().isoformat()
        entry = CodecKeys.new_entry(key_id)
        try:
            CodecKeys.parse(entry, source="--id")
        except CodecKeyError:
            console.print(
                f"aftercare codec new-key: --id {key_id!r} is not a key id; use letters, digits, '.', '_' or '-', "
                "up to 64 characters",
                markup=False,
            )
            return 2
        # print, not console.print: the line must not be wrapped or styled on its way to a secret store
        print(entry)
        return 0
    source = KEYS_ENV if settings.codec_keys else str(settings.home / KEY_FILE)
    if source != KEYS_ENV and not (settings.home / KEY_FILE).exists():
        console.print(f"no keys yet: {KEYS_ENV} is not set and {source} does not exist (the first start makes it)")
        return 1
    try:
        keys = load_keys(settings.home, settings.codec_keys)
    except CodecKeyError as err:
        console.print(f"aftercare codec keys: {err}", markup=False)
        return 1
    table = Table(title=f"payload keys from {source}")
    table.add_column("#", justify="right")
    table.add_column("key id")
    table.add_column("use")
    for position, key_id in enumerate(keys.ids, start=1):
        table.add_row(str(position), key_id, "encrypts and decrypts" if position == 1 else "decrypts only")
    console.print(table)
    return 0

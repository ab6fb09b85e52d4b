"""The sandbox's memory kept on disk, so a restart of `aftercare up` still shows what was sent before it.

What is kept: the outbox (emails, SMS/WhatsApp), numbers that opted out, the carrier stand-ins' trackers
(EasyPost's, AfterShip's, Shippo's, 17TRACK's), their events and webhook deliveries, and its shipments (return
labels). Stripe's state (payments, refunds) is left to `sandbox.stripe`; scripted failures and running scripts
are test scaffolding and start empty.

Two owner-only files under `AFTERCARE_HOME/sandbox/`:
- `emails.jsonl`, one received email per line. Emails are the bulk of the state and never change once received,
  so new ones are appended; the file is rewritten only when the outbox was emptied. A torn last line (a kill
  mid-append) is skipped on load and the file rewritten.
- `state.json`, everything else, written whole under a temporary name and renamed into place (a kill mid-write
  leaves the previous file), and only when it changed.
`keep_state` checks every `interval` seconds and once more on the way out; an idle sandbox writes nothing, and a
busy one does not serialise its emails again every second. A version 1 `state.json` (emails inside) still loads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.state import DeliveryAttempt, ReceivedEmail, SandboxState, WebhookDelivery

log = logging.getLogger("sandbox.persistence")

VERSION = 2
READABLE_VERSIONS = (1, 2)  # 1 kept the emails inside state.json
STATE_FILE = "state.json"
EMAILS_FILE = "emails.jsonl"
_PLAIN = (
    "texts", "events", "trackers", "tracker_ids", "shipments", "aftership_trackings", "shippo_tracks",
    "seventeentrack_tracks",
)  # fmt: skip


def default_state_dir() -> Path:
    """Where `aftercare up` keeps the sandbox's state: under AFTERCARE_HOME (as the settings default it)."""
    home = os.environ.get("AFTERCARE_HOME") or str(Path(__file__).resolve().parent.parent / ".aftercare")
    return Path(home) / "sandbox"


def snapshot(state: SandboxState) -> str:
    """What survives a restart but the emails, as the JSON text of `state.json` (taken under the state's lock:
    the SMTP thread writes)."""
    with state.lock:
        data: dict[str, Any] = {name: getattr(state, name) for name in _PLAIN}
        data["deliveries"] = [d.to_json() for d in state.deliveries]
        data["twilio_opted_out"] = sorted(state.twilio_opted_out)
        return json.dumps({"version": VERSION, **data}, default=str, sort_keys=True)


def restore(state: SandboxState, data: dict[str, Any], emails: list[ReceivedEmail]) -> None:
    """Put a snapshot and its emails back into a fresh state."""
    with state.lock:
        for name in _PLAIN:
            if name in data:
                setattr(state, name, data[name])
        state.emails = emails
        state.deliveries = [_delivery(d) for d in data.get("deliveries", [])]
        state.twilio_opted_out = set(data.get("twilio_opted_out", []))


def _email(data: dict[str, Any]) -> ReceivedEmail:
    fields = dict(data)
    fields["from_"] = fields.pop("from")
    fields["received_at"] = datetime.fromisoformat(fields["received_at"])
    return ReceivedEmail(**fields)


def _delivery(data: dict[str, Any]) -> WebhookDelivery:
    attempts = [
        DeliveryAttempt(datetime.fromisoformat(a["at"]), a["status_code"], a.get("error"))
        for a in data.get("attempts", [])
    ]
    return WebhookDelivery(
        event_id=data["event_id"],
        description=data["description"],
        tracking_code=data["tracking_code"],
        url=data["url"],
        attempts=attempts,
        delivered=data["delivered"],
        gave_up=data["gave_up"],
    )


@dataclass
class Written:
    """What the files on disk hold: the state.json text, and how many emails `emails.jsonl` has, ending with
    which one (the very object: an emptied and refilled outbox never matches it). `emails` -1: rewrite it."""

    text: str = ""
    emails: int = -1
    last_email: ReceivedEmail | None = None


def load(state: SandboxState, directory: Path) -> Written | None:
    """Restore what an earlier run kept; None if there was nothing (or nothing readable) to restore."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("sandbox state in %s not restored (%s); starting empty", path, exc)
        return None
    if data.get("version") not in READABLE_VERSIONS:
        log.warning("sandbox state in %s is version %s, not %s; starting empty", path, data.get("version"), VERSION)
        return None
    if data["version"] == 1:
        emails, whole = [_email(e) for e in data.get("emails", [])], False
    else:
        emails, whole = _read_emails(directory / EMAILS_FILE)
    restore(state, data, emails)
    if not whole:
        return Written()  # the next save rewrites both files
    return Written(text=snapshot(state), emails=len(emails), last_email=emails[-1] if emails else None)


def _read_emails(path: Path) -> tuple[list[ReceivedEmail], bool]:
    """The emails kept in `path`, and whether every line was whole (a kill mid-append tears the last one)."""
    emails: list[ReceivedEmail] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return emails, True
    for number, line in enumerate(lines, 1):
        try:
            emails.append(_email(json.loads(line)))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s line %d skipped (%s)", path, number, type(exc).__name__)
            return emails, False
    return emails, True


def _private(path: Path, text: str, *, append: bool = False) -> None:
    """Write (or append) `text` to `path`, readable by its owner only; a whole write goes through a temporary
    name and a rename, so a kill mid-write leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    target = path if append else path.with_name(f".{path.name}.{os.getpid()}")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC)
    with os.fdopen(os.open(target, flags, 0o600), "w", encoding="utf-8") as out:
        out.write(text)
    if not append:
        os.replace(target, path)


def _email_lines(emails: list[ReceivedEmail]) -> str:
    return "".join(json.dumps(e.to_json(), sort_keys=True) + "\n" for e in emails)


def save(state: SandboxState, directory: Path, written: Written | None = None) -> Written:
    """Bring the files up to date with the state, writing only what changed since `written`; returns what the
    files hold now."""
    written = written or Written()
    text = snapshot(state)
    with state.lock:
        emails = list(state.emails)
    if text != written.text:
        _private(directory / STATE_FILE, text)
    same_start = 0 <= written.emails <= len(emails) and (
        written.emails == 0 or emails[written.emails - 1] is written.last_email
    )
    if not same_start:
        _private(directory / EMAILS_FILE, _email_lines(emails))
    elif len(emails) > written.emails:
        _private(directory / EMAILS_FILE, _email_lines(emails[written.emails :]), append=True)
    return Written(text=text, emails=len(emails), last_email=emails[-1] if emails else None)


@contextlib.asynccontextmanager
async def keep_state(state: SandboxState, directory: Path, *, interval: float = 1.0) -> AsyncIterator[None]:
    """Restore the state from `directory`, save what changes while the block runs, and once more at its end."""
    written = load(state, directory)
    if written is not None:
        log.info("sandbox state restored from %s", directory)
    written = await asyncio.to_thread(save, state, directory, written)

    async def saver() -> None:
        nonlocal written
        while True:
            await asyncio.sleep(interval)
            written = await asyncio.to_thread(save, state, directory, written)

    task = asyncio.get_running_loop().create_task(saver())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        save(state, directory, written)

"""The sandbox's memory kept on disk, so a restart of `aftercare up` still shows what was sent before it.

What is kept: the outbox (emails, SMS/WhatsApp), numbers that opted out, the carrier stand-ins' trackers
(EasyPost's, AfterShip's, Shippo's, 17TRACK's), their events and webhook deliveries, and its shipments (return
labels). Stripe's state (payments, refunds) is left to `sandbox.stripe`; scripted failures and running scripts
are test scaffolding and start empty.

One JSON file (`AFTERCARE_HOME/sandbox/state.json`, owner-only), written whole under a temporary name and
renamed into place: a kill mid-write leaves the previous file. `keep_state` writes it whenever the state
changed (checked every `interval` seconds) and once more on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.state import DeliveryAttempt, ReceivedEmail, SandboxState, WebhookDelivery

log = logging.getLogger("sandbox.persistence")

VERSION = 1
STATE_FILE = "state.json"
_PLAIN = (
    "texts", "events", "trackers", "tracker_ids", "shipments", "aftership_trackings", "shippo_tracks",
    "seventeentrack_tracks",
)  # fmt: skip


def default_state_dir() -> Path:
    """Where `aftercare up` keeps the sandbox's state: under AFTERCARE_HOME (as the settings default it)."""
    home = os.environ.get("AFTERCARE_HOME") or str(Path(__file__).resolve().parent.parent / ".aftercare")
    return Path(home) / "sandbox"


def snapshot(state: SandboxState) -> dict[str, Any]:
    """What survives a restart, as JSON-ready data (taken under the state's lock: the SMTP thread writes)."""
    with state.lock:
        data: dict[str, Any] = {name: getattr(state, name) for name in _PLAIN}
        data["emails"] = [e.to_json() for e in state.emails]
        data["deliveries"] = [d.to_json() for d in state.deliveries]
        data["twilio_opted_out"] = sorted(state.twilio_opted_out)
        return {"version": VERSION, **json.loads(json.dumps(data, default=str))}


def restore(state: SandboxState, data: dict[str, Any]) -> None:
    """Put a snapshot back into a fresh state."""
    with state.lock:
        for name in _PLAIN:
            if name in data:
                setattr(state, name, data[name])
        state.emails = [_email(e) for e in data.get("emails", [])]
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


def load(state: SandboxState, directory: Path) -> bool:
    """Restore what an earlier run kept; False if there was nothing (or nothing readable) to restore."""
    path = directory / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return False
    except (OSError, ValueError) as exc:
        log.warning("sandbox state in %s not restored (%s); starting empty", path, exc)
        return False
    if data.get("version") != VERSION:
        log.warning("sandbox state in %s is version %s, not %s; starting empty", path, data.get("version"), VERSION)
        return False
    restore(state, data)
    return True


def save(state: SandboxState, directory: Path) -> str:
    """Write the snapshot atomically, readable by its owner only; returns what was written."""
    text = json.dumps(snapshot(state), sort_keys=True)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    draft = directory / f".{STATE_FILE}.{os.getpid()}"
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    os.replace(draft, directory / STATE_FILE)
    return text


@contextlib.asynccontextmanager
async def keep_state(state: SandboxState, directory: Path, *, interval: float = 1.0) -> AsyncIterator[None]:
    """Restore the state from `directory`, save it whenever it changes while the block runs, and at its end."""
    if load(state, directory):
        log.info("sandbox state restored from %s", directory / STATE_FILE)
    written = json.dumps(snapshot(state), sort_keys=True)

    async def saver() -> None:
        nonlocal written
        while True:
            await asyncio.sleep(interval)
            if json.dumps(snapshot(state), sort_keys=True) != written:
                written = await asyncio.to_thread(save, state, directory)

    task = asyncio.get_running_loop().create_task(saver())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        save(state, directory)

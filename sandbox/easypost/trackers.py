"""The sandbox's trackers: created, found, moved by scans one at a time or scripted, each scan announced by webhook."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from typing import Any

import httpx

from sandbox.easypost import shapes
from sandbox.easypost.bodies import Scan, Script
from sandbox.easypost.webhooks import deliver, make_event
from sandbox.state import SandboxState, iso, utcnow

TRACKING_CODE = re.compile(r"^[A-Za-z0-9-]{4,64}$")
# EasyPost's test-mode tracking codes, each a parcel already at that status
TEST_CODES = {
    "EZ1000000001": "pre_transit",
    "EZ2000000002": "in_transit",
    "EZ3000000003": "out_for_delivery",
    "EZ4000000004": "delivered",
    "EZ5000000005": "return_to_sender",
    "EZ6000000006": "failure",
    "EZ7000000007": "unknown",
}
JOURNEY = ["pre_transit", "in_transit", "out_for_delivery", "delivered"]


def new_tracker(state: SandboxState, code: str, carrier: str = "USPS") -> dict[str, Any]:
    tracker = shapes.tracker(code, carrier, f"{state.http_url}/_sandbox/easypost/trackers/{code}")
    state.trackers[tracker["id"]] = tracker
    state.tracker_ids[code] = tracker["id"]
    if code in TEST_CODES:
        _seed_test_code(tracker, TEST_CODES[code])
    return tracker


def _seed_test_code(tracker: dict[str, Any], target: str) -> None:
    """Give an EasyPost test code the history its name promises, one scan a day, ending yesterday."""
    path = JOURNEY[: JOURNEY.index(target) + 1] if target in JOURNEY else ["pre_transit", "in_transit", target]
    start = utcnow() - dt.timedelta(days=len(path))
    for i, status in enumerate(path):
        apply_scan(tracker, Scan(status=status, datetime=start + dt.timedelta(days=i)))


def get_or_create(state: SandboxState, code: str, carrier: str | None = None) -> dict[str, Any]:
    tracker_id = state.tracker_ids.get(code)
    if tracker_id and tracker_id in state.trackers:
        return state.trackers[tracker_id]
    return new_tracker(state, code, carrier or "USPS")


def apply_scan(tracker: dict[str, Any], scan: Scan) -> dict[str, Any]:
    """Append one TrackingDetail and move the tracker's status with it; returns the detail."""
    carrier = scan.carrier or tracker["carrier"]
    detail = shapes.tracking_detail(scan, carrier)
    details = tracker["tracking_details"]
    details.append(detail)
    details.sort(key=lambda d: d["datetime"])
    latest = details[-1]
    tracker["status"] = latest["status"]
    tracker["status_detail"] = latest["status_detail"]
    tracker["updated_at"] = iso(utcnow())
    tracker["carrier"] = carrier
    if scan.est_delivery_date:
        tracker["est_delivery_date"] = iso(scan.est_delivery_date)
    if scan.signed_by:
        tracker["signed_by"] = scan.signed_by
    tracker["finalized"] = tracker["status"] in ("delivered", "return_to_sender", "cancelled", "failure")
    return detail


async def scan_and_notify(state: SandboxState, client: httpx.AsyncClient, code: str, scan: Scan) -> dict[str, Any]:
    if scan.status not in shapes.STATUSES:
        raise ValueError(f"status {scan.status!r} is not an EasyPost status; use one of {', '.join(shapes.STATUSES)}")
    tracker = get_or_create(state, code, scan.carrier)
    previous = tracker["status"]
    detail = apply_scan(tracker, scan)
    answer: dict[str, Any] = {"tracker": tracker, "tracking_detail": detail, "event": None, "delivery": None}
    if scan.deliver_webhook:
        event = make_event(state, tracker, previous)
        delivery = await deliver(state, client, event)
        answer["event"] = {"id": event["id"], "description": event["description"]}
        answer["delivery"] = delivery.to_json()
    return answer


def start_script(state: SandboxState, client: httpx.AsyncClient, code: str, script: Script) -> dict[str, Any]:
    """Play the script's scans in the background, each `after_seconds` after the previous; returns its record."""
    script_id = "script_" + uuid.uuid4().hex[:12]
    record: dict[str, Any] = {
        "id": script_id, "tracking_code": code, "steps": len(script.steps), "played": 0, "done": False,
    }  # fmt: skip
    state.scripts[script_id] = record

    async def play() -> None:
        for step in script.steps:
            await asyncio.sleep(step.after_seconds)
            scan = Scan(
                **step.model_dump(exclude={"after_seconds", "deliver_webhook"}),
                deliver_webhook=script.deliver_webhook and step.deliver_webhook,
            )
            await scan_and_notify(state, client, code, scan)
            record["played"] += 1
        record["done"] = True

    state.spawn(play())
    return record

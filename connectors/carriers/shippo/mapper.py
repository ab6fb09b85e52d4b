"""Shippo's Track to our TrackingEvents: statuses through `units`, scan ids, places, times and estimates.

Works on the decoded JSON as Shippo sends it (field names in `models.py`), tolerating missing fields: a scan
without a time is dropped, one without Shippo's `object_id` gets a stable id of our own. Shippo gives the
estimate per parcel, not per scan: the first scan carries `original_eta` and the latest `eta`, so a journey
sees the estimate move (edd_revised) as Shippo revised it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connectors.carriers.common import instant_key, place, scan_id
from connectors.carriers.common import parse_time as parse_datetime  # Shippo: ISO 8601 in UTC (`...Z`)
from connectors.carriers.shippo.units import carrier_slug_for, map_status
from domain import PollResult, TrackingEvent

PROVIDER = "shippo"


def _code(entry: Mapping[str, Any]) -> str:
    sub = entry.get("substatus")
    return str(sub.get("code") or "") if isinstance(sub, Mapping) else ""


def event_id_for(tracking_number: str, entry: Mapping[str, Any]) -> str:
    """A stable id for one scan: Shippo's `object_id`, or (missing) a hash of what identifies the scan."""
    if entry.get("object_id"):
        return f"shippo:{entry['object_id']}"
    raw_time = entry.get("status_date")
    return scan_id(
        "shippo",
        tracking_number,
        instant_key(parse_datetime(raw_time), raw_time),
        str(entry.get("status") or ""),
        _code(entry),
        str(entry.get("status_details") or ""),
    )


def location_text(loc: Any) -> str | None:
    """`Oakland, CA, US 94607` from Shippo's location object; None when it says nothing."""
    if not isinstance(loc, Mapping):
        return None
    return place(loc.get("city"), loc.get("state"), loc.get("country"), postal=loc.get("zip"))


def _entries(track: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every scan of the Track: the history, plus the latest status if the history does not have it yet."""
    history = [e for e in track.get("tracking_history") or [] if isinstance(e, Mapping)]
    latest = track.get("tracking_status")
    if isinstance(latest, Mapping):
        ids = {e.get("object_id") for e in history if e.get("object_id")}
        same = (
            latest.get("object_id") in ids
            if latest.get("object_id")
            else any(
                e.get("status_date") == latest.get("status_date") and e.get("status") == latest.get("status")
                for e in history
            )
        )
        if not same:
            history.append(latest)
    return history


def track_to_result(track: Mapping[str, Any], provider: str = PROVIDER) -> PollResult:
    """Our events for one Shippo Track (oldest first) and its current estimated delivery."""
    number = str(track.get("tracking_number") or "")
    events: list[TrackingEvent] = []
    for entry in _entries(track):
        occurred = parse_datetime(entry.get("status_date"))
        if occurred is None:
            continue  # Shippo's UNKNOWN placeholder carries no date: nothing happened to order or keep
        code = _code(entry)
        status, reason = map_status(entry.get("status"), code)
        raw_code = "/".join(p for p in (str(entry.get("status") or ""), code) if p)
        events.append(
            TrackingEvent(
                event_id=event_id_for(number, entry),
                carrier=provider,
                tracking_number=number,
                status=status,
                occurred_at=occurred,
                description=str(entry.get("status_details") or "")[:500],
                location=location_text(entry.get("location")),
                exception_reason=reason,
                carrier_code=raw_code or None,
            )
        )
    events.sort(key=lambda e: e.occurred_at)
    eta, original = parse_datetime(track.get("eta")), parse_datetime(track.get("original_eta"))
    if events and original is not None and len(events) > 1:
        events[0] = events[0].model_copy(update={"estimated_delivery": original})
    if events and (eta or original) is not None:
        events[-1] = events[-1].model_copy(update={"estimated_delivery": eta or original})
    return PollResult(events=events, estimated_delivery=eta or original)


def carrier_of(track: Mapping[str, Any]) -> str:
    """The carrier the customer knows, by our slug (`hermes_uk` -> `evri`)."""
    return carrier_slug_for(str(track.get("carrier") or ""))

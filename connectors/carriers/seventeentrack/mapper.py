"""17TRACK's `track_info` to our TrackingEvents: statuses through `units`, scan ids, places, times, estimate.

Works on the decoded JSON as 17TRACK sends it (field names in `models.py`), tolerating missing fields. A
scan's status comes from its own `sub_status` (v2.2), else its `stage`, else (for the latest scan) the
parcel's `latest_status`; older scans with neither are in transit. 17TRACK gives scans no id: ours hashes
what identifies the scan (number, time, description, place), the same by poll and by push.

17TRACK also judges the parcel without a new scan (`Expired` after weeks of silence, `Exception_Delayed`):
when its `latest_status` says more than the latest scan, that verdict becomes one more event at the latest
scan's time, with an id of its own (so the journey hears it once). The estimate is per parcel
(`time_metrics.estimated_delivery_date`, the window's end) and rides on the latest event.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.carriers.common import instant_key, place, scan_id
from connectors.carriers.common import parse_time as parse_datetime  # `time_iso` (offset), `time_utc` (UTC)
from connectors.carriers.seventeentrack.units import carrier_slug_for, map_stage, map_status
from domain import ExceptionReason, PollResult, TrackingEvent, TrackingStatus

PROVIDER = "17track"


def event_time(event: Mapping[str, Any]) -> datetime | None:
    return parse_datetime(event.get("time_utc")) or parse_datetime(event.get("time_iso"))


def event_id_for(number: str, event: Mapping[str, Any]) -> str:
    """A stable id for one scan (17TRACK gives none): a hash of the number, the moment, the words and place."""
    return scan_id(
        "17track",
        number,
        instant_key(event_time(event), event.get("time_iso")),
        str(event.get("description") or ""),
        str(event.get("location") or ""),
    )


def location_text(event: Mapping[str, Any]) -> str | None:
    """The scan's `location` as the carrier wrote it, else its structured `address` (`City, ST, CC 12345`)."""
    if event.get("location"):
        return str(event["location"])[:200]
    address = event.get("address")
    if not isinstance(address, Mapping):
        return None
    return place(address.get("city"), address.get("state"), address.get("country"), postal=address.get("postal_code"))


def _events(track_info: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every scan of every provider (a parcel handed between carriers has one provider each)."""
    tracking = track_info.get("tracking")
    providers = tracking.get("providers") if isinstance(tracking, Mapping) else None
    found: list[Mapping[str, Any]] = []
    for provider in providers or []:
        if isinstance(provider, Mapping):
            found.extend(e for e in provider.get("events") or [] if isinstance(e, Mapping))
    latest = track_info.get("latest_event")
    if not found and isinstance(latest, Mapping):
        found.append(latest)  # a push that carries only the latest scan
    return found


def estimated_delivery(track_info: Mapping[str, Any]) -> datetime | None:
    """The end of 17TRACK's delivery window (`to`), else its start: the moment after which the parcel is late."""
    metrics = track_info.get("time_metrics")
    window = metrics.get("estimated_delivery_date") if isinstance(metrics, Mapping) else None
    if not isinstance(window, Mapping):
        return None
    return parse_datetime(window.get("to")) or parse_datetime(window.get("from"))


Verdict = tuple[TrackingStatus, ExceptionReason | None, str]


def _status_of(event: Mapping[str, Any], is_latest: bool, verdict: Verdict) -> Verdict:
    sub = event.get("sub_status")
    if sub:
        status, reason = map_status(None, str(sub))
        if status is not TrackingStatus.UNKNOWN or str(sub).startswith("NotFound"):
            return status, reason, str(sub)
    staged = map_stage(str(event.get("stage") or ""))
    if staged is not None:
        return staged[0], staged[1], f"stage:{event['stage']}"
    if is_latest:
        return verdict
    return TrackingStatus.IN_TRANSIT, None, ""


def _verdict_event(
    number: str, events: list[TrackingEvent], verdict: Verdict, latest: Mapping[str, Any]
) -> TrackingEvent | None:
    """17TRACK's own status of the parcel as an event, when it differs from what the latest scan says."""
    status, reason, code = verdict
    if not events:
        return None
    last = events[-1]
    if status is TrackingStatus.UNKNOWN or (status, reason) == (last.status, last.exception_reason):
        return None
    return last.model_copy(
        update={
            "event_id": scan_id("17track", number, instant_key(last.occurred_at, None), "latest_status", code),
            "status": status,
            "exception_reason": reason,
            "description": str(latest.get("sub_status_descr") or last.description)[:500],
            "carrier_code": code,
        }
    )


def track_to_result(data: Mapping[str, Any], provider: str = PROVIDER) -> PollResult:
    """Our events for one 17TRACK parcel (`{"number", "carrier", "track_info"}`), oldest first, and its EDD."""
    number = str(data.get("number") or "")
    info = data.get("track_info")
    if not isinstance(info, Mapping):
        return PollResult()
    latest = info.get("latest_status") if isinstance(info.get("latest_status"), Mapping) else {}
    assert isinstance(latest, Mapping)
    verdict_status, verdict_reason = map_status(latest.get("status"), latest.get("sub_status"))
    verdict_code = "/".join(str(latest[k]) for k in ("status", "sub_status") if latest.get(k))
    verdict: Verdict = (verdict_status, verdict_reason, verdict_code)
    timed = [(t, e) for e in _events(info) if (t := event_time(e)) is not None]
    timed.sort(key=lambda pair: pair[0])
    events: list[TrackingEvent] = []
    seen: set[str] = set()
    for i, (when, event) in enumerate(timed):
        event_id = event_id_for(number, event)
        if event_id in seen:
            continue  # the same scan listed twice (latest_event and the provider's list)
        seen.add(event_id)
        status, reason, code = _status_of(event, i == len(timed) - 1, verdict)
        events.append(
            TrackingEvent(
                event_id=event_id,
                carrier=provider,
                tracking_number=number,
                status=status,
                occurred_at=when,
                description=str(event.get("description") or "")[:500],
                location=location_text(event),
                exception_reason=reason,
                carrier_code=code or None,
            )
        )
    said = _verdict_event(number, events, verdict, latest)
    if said is not None:
        events.append(said)
    edd = estimated_delivery(info)
    if events and edd is not None:
        events[-1] = events[-1].model_copy(update={"estimated_delivery": edd})
    return PollResult(events=events, estimated_delivery=edd)


def carrier_of(data: Mapping[str, Any]) -> str:
    """The carrier the customer knows, by our slug: 17TRACK's key, else the first provider's name."""
    info = data.get("track_info")
    tracking = info.get("tracking") if isinstance(info, Mapping) else None
    providers = tracking.get("providers") if isinstance(tracking, Mapping) else None
    first = providers[0] if isinstance(providers, list) and providers and isinstance(providers[0], Mapping) else {}
    name = first.get("provider", {}).get("name") if isinstance(first.get("provider"), Mapping) else None
    return carrier_slug_for(data.get("carrier") or 0, name)

"""AfterShip's format to ours: a Tracking (from the API or a webhook's `msg`) becomes our TrackingEvents.

Works on the decoded JSON with AfterShip's field names (`models.py`), leniently: a checkpoint without a time is
dropped, odd values are skipped. Checkpoints carry no id, so the same scan gets the same hash whether it came by
poll or by push. A time without an offset is taken as UTC (AfterShip gives the carrier's local time when the
carrier does not say its zone); a date-only EDD is that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connectors.carriers.aftership.units import courier_to_carrier, map_status
from connectors.carriers.common import instant_key, parse_time, place, scan_id
from connectors.carriers.unknown_codes import note_unknown
from domain import PollResult, TrackingEvent, TrackingStatus

PROVIDER = "aftership"


def _edd_object(raw: Any) -> datetime | None:
    return parse_time(raw.get("estimated_delivery_date")) if isinstance(raw, Mapping) else None


def estimated_delivery(tracking: Mapping[str, Any]) -> datetime | None:
    """The carrier's own date first (`expected_delivery`, `courier_estimated_delivery_date`), then AfterShip's
    prediction (`aftership_estimated_delivery_date`), then the newer `latest_estimated_delivery`."""
    latest = tracking.get("latest_estimated_delivery")
    return (
        parse_time(tracking.get("expected_delivery"))
        or _edd_object(tracking.get("courier_estimated_delivery_date"))
        or _edd_object(tracking.get("aftership_estimated_delivery_date"))
        or (parse_time(latest.get("datetime")) if isinstance(latest, Mapping) else None)
    )


def carrier_of(tracking: Mapping[str, Any]) -> str | None:
    """The carrier moving the parcel, by our slug, from AfterShip's courier `slug` (None if it names none)."""
    slug = tracking.get("slug")
    return courier_to_carrier(str(slug)) if slug else None


def event_id_for(tracking_number: str, checkpoint: Mapping[str, Any]) -> str:
    """A stable id for one checkpoint: the fields that identify the scan, hashed."""
    raw_time = checkpoint.get("checkpoint_time")
    return scan_id(
        "aftership",
        tracking_number,
        instant_key(parse_time(raw_time), raw_time),
        str(checkpoint.get("tag") or ""),
        str(checkpoint.get("subtag") or ""),
        str(checkpoint.get("message") or ""),
    )


def location(checkpoint: Mapping[str, Any]) -> str | None:
    """`City, State, Country zip`, else AfterShip's free-text `location`."""
    country = checkpoint.get("country_name") or checkpoint.get("country_iso3") or checkpoint.get("country_region")
    code = checkpoint.get("zip") or checkpoint.get("postal_code")
    text = place(checkpoint.get("city"), checkpoint.get("state"), country, postal=code)
    return text or (str(checkpoint["location"]) if checkpoint.get("location") else None)


def _mapped(tag: Any, subtag: Any, provider: str) -> tuple[TrackingStatus, Any, str | None]:
    tag_s, subtag_s = (str(tag) if tag else None), (str(subtag) if subtag else None)
    status, reason, known = map_status(tag_s, subtag_s)
    code = "/".join(p for p in (tag_s, subtag_s) if p) or None
    if not known:
        note_unknown(provider, subtag_s or tag_s or "")
    return status, reason, code


def tracking_to_result(tracking: Mapping[str, Any], provider: str = PROVIDER) -> PollResult:
    """Every checkpoint of one Tracking as our events, oldest first, and its estimated delivery."""
    number = str(tracking.get("tracking_number") or "")
    edd = estimated_delivery(tracking)
    events: list[TrackingEvent] = []
    for cp in tracking.get("checkpoints") or []:
        if not isinstance(cp, Mapping):
            continue
        occurred = parse_time(cp.get("checkpoint_time"))
        if occurred is None:
            continue  # cannot be ordered or deduplicated
        status, reason, code = _mapped(cp.get("tag"), cp.get("subtag"), provider)
        events.append(
            TrackingEvent(
                event_id=event_id_for(number, cp),
                carrier=provider,
                tracking_number=number,
                status=status,
                occurred_at=occurred,
                description=str(cp.get("message") or cp.get("subtag_message") or "")[:500],
                location=location(cp),
                exception_reason=reason,
                carrier_code=code,
            )
        )
    events.sort(key=lambda e: e.occurred_at)
    final = _tracking_level(tracking, number, events, provider)
    if final is not None:
        events.append(final)
    if events and edd is not None:
        events[-1] = events[-1].model_copy(update={"estimated_delivery": edd})
    return PollResult(events=events, estimated_delivery=edd)


def _tracking_level(
    tracking: Mapping[str, Any], number: str, events: list[TrackingEvent], provider: str
) -> TrackingEvent | None:
    """AfterShip marks a tracking Expired without a checkpoint: that is news for the parcel, so it becomes an
    event of its own (at `updated_at`), once (the id is the tag's, the same on every poll and push)."""
    tag, subtag = tracking.get("tag"), tracking.get("subtag")
    if tag != "Expired" or (events and events[-1].status is TrackingStatus.EXPIRED):
        return None
    when = parse_time(tracking.get("updated_at")) or parse_time(tracking.get("created_at"))
    if when is None:
        return None
    if events and when < events[-1].occurred_at:
        when = events[-1].occurred_at
    status, reason, code = _mapped(tag, subtag, provider)
    return TrackingEvent(
        event_id=scan_id("aftership", number, "tracking", str(tag)),
        carrier=provider,
        tracking_number=number,
        status=status,
        occurred_at=when,
        description=str(tracking.get("subtag_message") or "No tracking information from the carrier"),
        exception_reason=reason,
        carrier_code=code,
    )

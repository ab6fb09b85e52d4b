"""EasyPost's format to ours and back: Trackers become our TrackingEvents, our return request a Shipment.

Works on the decoded JSON as EasyPost sends it (field names in `models.py`), tolerating missing
fields: a scan without a time is dropped, a detail without an id gets a stable one of our own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.carriers.common import instant_key, place, scan_id
from connectors.carriers.common import parse_time as parse_datetime  # EasyPost: no zone means UTC
from connectors.carriers.easypost.units import STATUS_MAP, map_status
from connectors.carriers.unknown_codes import note_unknown
from domain import Address, PollResult, ReturnLabelRequest, TrackingEvent


def event_id_for(tracking_code: str, detail: Mapping[str, Any]) -> str:
    """A stable id for one scan: EasyPost details carry none, and webhook and poll must agree."""
    if detail.get("id"):
        return f"easypost:{detail['id']}"
    raw_time = detail.get("datetime")
    return scan_id(
        "easypost",
        tracking_code,
        instant_key(parse_datetime(raw_time), raw_time),
        str(detail.get("status") or ""),
        str(detail.get("status_detail") or ""),
        str(detail.get("message") or ""),
    )


def _location(detail: Mapping[str, Any]) -> str | None:
    loc = detail.get("tracking_location") or {}
    if not isinstance(loc, Mapping):
        return None
    return place(loc.get("city"), loc.get("state"), loc.get("country"), postal=loc.get("zip"))


def tracker_to_result(tracker: Mapping[str, Any], carrier: str = "easypost") -> PollResult:
    """Map one EasyPost Tracker to our events (oldest first) and its estimated delivery."""
    code = str(tracker.get("tracking_code") or "")
    edd = parse_datetime(tracker.get("est_delivery_date"))
    details = [d for d in tracker.get("tracking_details") or [] if isinstance(d, Mapping)]
    events: list[TrackingEvent] = []
    for detail in details:
        occurred = parse_datetime(detail.get("datetime"))
        if occurred is None:
            continue  # a scan without a time cannot be ordered or deduplicated; EasyPost always sends one
        status, reason = map_status(detail.get("status"), detail.get("status_detail"))
        if str(detail.get("status") or "unknown").lower() not in STATUS_MAP:
            note_unknown(carrier, str(detail.get("status")))  # logged and counted; mapped to unknown
        raw_code = "/".join(str(detail.get(k)) for k in ("status", "status_detail") if detail.get(k))
        events.append(
            TrackingEvent(
                event_id=event_id_for(code, detail),
                carrier=carrier,
                tracking_number=code,
                status=status,
                occurred_at=occurred,
                description=str(detail.get("message") or detail.get("description") or ""),
                location=_location(detail),
                exception_reason=reason,
                estimated_delivery=parse_datetime(detail.get("est_delivery_date")),
                carrier_code=raw_code or None,
            )
        )
    events.sort(key=lambda e: e.occurred_at)
    if events and events[-1].estimated_delivery is None and edd is not None:
        events[-1] = events[-1].model_copy(update={"estimated_delivery": edd})
    return PollResult(events=events, estimated_delivery=edd)


# --- return labels: our request -> an EasyPost Shipment, and the bought Shipment -> our label ----


def easypost_address(address: Address) -> dict[str, str]:
    """Our Address in EasyPost's words (street1, state, zip); empty fields left out."""
    fields = {
        "name": address.name,
        "street1": address.line1,
        "street2": address.line2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country,
    }
    return {k: v for k, v in fields.items() if v}


def return_shipment(request: ReturnLabelRequest, carrier: str, service: str) -> dict[str, Any]:
    """The `POST /v2/shipments` body that buys `request`'s return label in one call.

    EasyPost swaps the two addresses of a return itself, so they go as the outbound parcel had them;
    our idempotency key is the `reference`, so a retry can find the shipment it already bought.
    """
    return {
        "shipment": {
            "to_address": easypost_address(request.from_address),  # EasyPost swaps these for a return
            "from_address": easypost_address(request.to_address),
            "parcel": {"weight": request.weight_oz},
            "is_return": True,
            "carrier": carrier,
            "service": service,
            "reference": request.idempotency_key,
            "options": {"label_format": "PNG", "print_custom_1": f"Return for order {request.order_id}"},
        }
    }


def label_of(shipment: Mapping[str, Any]) -> tuple[str, str] | None:
    """(label URL, tracking code) of a bought shipment, None while it has no postage label."""
    label = shipment.get("postage_label")
    url = label.get("label_url") if isinstance(label, Mapping) else None
    code = shipment.get("tracking_code")
    return (str(url), str(code)) if url and code else None


def label_created_at(shipment: Mapping[str, Any]) -> datetime:
    """When the label was bought: the label's date, else the shipment's, else now."""
    created = parse_datetime((shipment.get("postage_label") or {}).get("label_date"))
    return created or parse_datetime(shipment.get("created_at")) or datetime.now(UTC)

"""EasyPost's JSON objects (Tracker, TrackingDetail, Event, Shipment and its parts, errors) as EasyPost has them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi.responses import JSONResponse

from sandbox.easypost.bodies import Scan
from sandbox.state import iso, utcnow

STATUSES = (
    "unknown", "pre_transit", "in_transit", "out_for_delivery", "available_for_pickup",
    "delivered", "return_to_sender", "failure", "cancelled", "error",
)  # fmt: skip
DEFAULT_MESSAGES = {
    "unknown": "Status unknown",
    "pre_transit": "Shipping Label Created",
    "in_transit": "In Transit",
    "out_for_delivery": "Out for Delivery",
    "available_for_pickup": "Available for Pickup",
    "delivered": "Delivered",
    "return_to_sender": "Return to Sender",
    "failure": "Delivery Failure",
    "cancelled": "Cancelled",
    "error": "Carrier Error",
}
DEFAULT_DETAILS = {
    "pre_transit": "label_created",
    "out_for_delivery": "out_for_delivery",
    "delivered": "arrived_at_destination",
    "available_for_pickup": "arrived_at_pickup_location",
    "return_to_sender": "return",
}
ADDRESS_FIELDS = ("name", "company", "street1", "street2", "city", "state", "zip", "country", "phone", "email")


def error(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "errors": errors or []}}, status_code=status)


def tracker(code: str, carrier: str, public_url: str) -> dict[str, Any]:
    """A fresh Tracker: no scans yet, status unknown."""
    now = iso(utcnow())
    return {
        "id": "trk_" + uuid.uuid4().hex,
        "object": "Tracker",
        "mode": "test",
        "tracking_code": code,
        "status": "unknown",
        "status_detail": "unknown",
        "created_at": now,
        "updated_at": now,
        "signed_by": None,
        "weight": None,
        "est_delivery_date": None,
        "shipment_id": None,
        "carrier": carrier,
        "tracking_details": [],
        "carrier_detail": None,
        "finalized": False,
        "is_return": False,
        "public_url": public_url,
        "fees": [],
    }


def tracking_detail(scan: Scan, carrier: str) -> dict[str, Any]:
    """One scan as a TrackingDetail, with EasyPost's default message and detail for its status."""
    when = scan.datetime or utcnow()
    return {
        "object": "TrackingDetail",
        "message": scan.message or DEFAULT_MESSAGES.get(scan.status, scan.status),
        "description": None,
        "status": scan.status,
        "status_detail": scan.status_detail or DEFAULT_DETAILS.get(scan.status, "status_update"),
        "datetime": iso(when),
        "source": carrier,
        "carrier_code": None,
        "tracking_location": {
            "object": "TrackingLocation",
            "city": scan.city,
            "state": scan.state,
            "country": scan.country,
            "zip": scan.zip,
        },
        "est_delivery_date": iso(scan.est_delivery_date) if scan.est_delivery_date else None,
    }


def event(tracker: dict[str, Any], previous_status: str | None, webhook_url: str) -> dict[str, Any]:
    """A pending `tracker.updated` Event carrying a snapshot of the tracker."""
    now = iso(utcnow())
    return {
        "id": "evt_" + uuid.uuid4().hex,
        "object": "Event",
        "mode": "test",
        "description": "tracker.updated",
        "previous_attributes": {"status": previous_status} if previous_status != tracker["status"] else {},
        "result": json.loads(json.dumps(tracker)),  # a snapshot: later scans must not change it
        "status": "pending",
        "pending_urls": [webhook_url],
        "completed_urls": [],
        "created_at": now,
        "updated_at": now,
        "user_id": "user_sandbox",
    }


def address(raw: dict[str, Any]) -> dict[str, Any]:
    now = iso(utcnow())
    fields = {name: raw.get(name) for name in ADDRESS_FIELDS}
    fields["country"] = str(fields["country"]).upper()
    return {"id": "adr_" + uuid.uuid4().hex, "object": "Address", "mode": "test", **fields,
            "created_at": now, "updated_at": now}  # fmt: skip


def shipment(shipment_id: str, payload: dict[str, Any], now: str) -> dict[str, Any]:
    """An unbought Shipment; `is_return` swaps the addresses as EasyPost does."""
    is_return = bool(payload.get("is_return"))
    to_raw, from_raw = payload["to_address"], payload["from_address"]
    if is_return:  # EasyPost swaps them: the label goes back to where the parcel came from
        to_raw, from_raw = from_raw, to_raw
    return {
        "id": shipment_id,
        "object": "Shipment",
        "mode": "test",
        "reference": payload.get("reference"),
        "status": "unknown",
        "is_return": is_return,
        "to_address": address(to_raw),
        "from_address": address(from_raw),
        "return_address": address(from_raw),
        "buyer_address": address(to_raw),
        "parcel": {
            "id": "prcl_" + uuid.uuid4().hex,
            "object": "Parcel",
            "weight": payload["parcel"]["weight"],
            "length": None,
            "width": None,
            "height": None,
            "predefined_package": None,
        },
        "options": payload.get("options") or {},
        "customs_info": None,
        "rates": [],
        "selected_rate": None,
        "postage_label": None,
        "tracking_code": None,
        "tracker": None,
        "fees": [],
        "messages": [],
        "created_at": now,
        "updated_at": now,
    }


def rate(shipment_id: str, carrier: str, service: str) -> dict[str, Any]:
    return {"id": "rate_" + uuid.uuid4().hex, "object": "Rate", "mode": "test", "carrier": carrier,
            "service": service, "rate": "7.58", "currency": "USD", "delivery_days": 3,
            "shipment_id": shipment_id}  # fmt: skip


def postage_label(label_url: str, now: str) -> dict[str, Any]:
    return {
        "id": "pl_" + uuid.uuid4().hex,
        "object": "PostageLabel",
        "label_date": now,
        "label_file_type": "image/png",
        "label_resolution": 50,
        "label_size": "4x6",
        "label_type": "default",
        "label_url": label_url,
        "label_pdf_url": None,
        "label_zpl_url": None,
        "created_at": now,
        "updated_at": now,
    }

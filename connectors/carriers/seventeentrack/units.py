"""17TRACK's units table: every `status` and `sub_status` of its Tracking API v2.2, its event stages, and
its numeric carrier codes for the main carriers.

Status and sub-status names are 17TRACK's published "Package status" lists (api.17track.net, v2.2); carrier
codes are its carrier list keys (UPS 100002, FedEx 100003, USPS 21051...). One place to read and extend; the
mapper only asks `map_status`, `map_stage` and `carrier_slug_for`. Unknown codes read as `unknown` and are
counted (`note_unknown`).
"""

from __future__ import annotations

from connectors.carriers.unknown_codes import note_unknown
from domain import ExceptionReason, TrackingStatus
from domain.carriers import UNKNOWN_CARRIER, carrier_slug

PROVIDER = "17track"

_T, _R = TrackingStatus, ExceptionReason

STATUS_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    # 17TRACK found nothing at the carrier (yet): says nothing about the parcel, alerts nobody
    "NotFound": (_T.UNKNOWN, None),
    "InfoReceived": (_T.PENDING, None),
    "InTransit": (_T.IN_TRANSIT, None),
    "Expired": (_T.EXPIRED, None),
    "AvailableForPickup": (_T.AVAILABLE_FOR_PICKUP, None),
    "OutForDelivery": (_T.OUT_FOR_DELIVERY, None),
    "DeliveryFailure": (_T.ATTEMPT_FAILED, None),
    "Delivered": (_T.DELIVERED, None),
    "Exception": (_T.EXCEPTION, _R.OTHER),
}

SUB_STATUS_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    "NotFound_Other": (_T.UNKNOWN, None),
    "NotFound_InvalidCode": (_T.UNKNOWN, None),
    "InfoReceived": (_T.PENDING, None),
    "InTransit_PickedUp": (_T.IN_TRANSIT, None),
    "InTransit_Other": (_T.IN_TRANSIT, None),
    "InTransit_Departure": (_T.IN_TRANSIT, None),
    "InTransit_Arrival": (_T.IN_TRANSIT, None),
    "InTransit_CustomsProcessing": (_T.IN_TRANSIT, None),
    "InTransit_CustomsReleased": (_T.IN_TRANSIT, None),
    "InTransit_CustomsRequiringInformation": (_T.EXCEPTION, _R.CUSTOMS),
    "Expired_Other": (_T.EXPIRED, None),
    "AvailableForPickup_Other": (_T.AVAILABLE_FOR_PICKUP, None),
    "OutForDelivery_Other": (_T.OUT_FOR_DELIVERY, None),
    "DeliveryFailure_Other": (_T.ATTEMPT_FAILED, None),
    "DeliveryFailure_NoBody": (_T.ATTEMPT_FAILED, None),
    "DeliveryFailure_Security": (_T.ATTEMPT_FAILED, None),
    "DeliveryFailure_Rejected": (_T.EXCEPTION, _R.REFUSED),
    "DeliveryFailure_InvalidAddress": (_T.EXCEPTION, _R.ADDRESS),
    "Delivered_Other": (_T.DELIVERED, None),
    "Exception_Other": (_T.EXCEPTION, _R.OTHER),
    "Exception_Returning": (_T.RETURNING, None),
    "Exception_Returned": (_T.RETURNED, None),
    "Exception_NoBody": (_T.EXCEPTION, _R.OTHER),
    "Exception_Security": (_T.EXCEPTION, _R.OTHER),
    "Exception_Damage": (_T.EXCEPTION, _R.DAMAGED),
    "Exception_Rejected": (_T.EXCEPTION, _R.REFUSED),
    "Exception_Delayed": (_T.EXCEPTION, _R.OTHER),
    "Exception_Lost": (_T.EXCEPTION, _R.LOST),
    "Exception_Destroyed": (_T.EXCEPTION, _R.DAMAGED),
    "Exception_Cancel": (_T.CANCELLED, None),
}

# An event's `stage` (17TRACK's key stages, as in `milestone`) when it carries no `sub_status`.
STAGE_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    "InfoReceived": (_T.PENDING, None),
    "PickedUp": (_T.IN_TRANSIT, None),
    "Departure": (_T.IN_TRANSIT, None),
    "Arrival": (_T.IN_TRANSIT, None),
    "AvailableForPickup": (_T.AVAILABLE_FOR_PICKUP, None),
    "OutForDelivery": (_T.OUT_FOR_DELIVERY, None),
    "Delivered": (_T.DELIVERED, None),
    "Returning": (_T.RETURNING, None),
    "Returned": (_T.RETURNED, None),
    "DeliveryFailure": (_T.ATTEMPT_FAILED, None),
    "Exception": (_T.EXCEPTION, _R.OTHER),
}

# A parcel 17TRACK calls delivered stays delivered, whatever sub-status rides along.
SETTLED_STATUSES = frozenset({"Delivered"})


def map_status(status: str | None, sub_status: str | None) -> tuple[TrackingStatus, ExceptionReason | None]:
    """Our status (and exception reason) for a 17TRACK `status` + `sub_status` pair (either may be missing)."""
    status, sub = (status or "").strip(), (sub_status or "").strip()
    if sub and sub not in SUB_STATUS_MAP:
        note_unknown(PROVIDER, sub)
        sub = ""
    if status and status not in STATUS_MAP:
        note_unknown(PROVIDER, status)
        status = ""
    if status in SETTLED_STATUSES:
        return STATUS_MAP[status]
    if sub:
        return SUB_STATUS_MAP[sub]
    return STATUS_MAP[status] if status else (TrackingStatus.UNKNOWN, None)


def map_stage(stage: str | None) -> tuple[TrackingStatus, ExceptionReason | None] | None:
    """Our status for an event's `stage`; None when it has none (an unknown one is counted, and None)."""
    if not stage:
        return None
    if stage in STAGE_MAP:
        return STAGE_MAP[stage]
    if stage in STATUS_MAP:  # 17TRACK also writes a main status there (`"stage": "Exception"` in its examples)
        return STATUS_MAP[stage]
    note_unknown(PROVIDER, f"stage:{stage}")
    return None


# 17TRACK's carrier keys for the main carriers, onto our slugs (`domain.carriers`).
CARRIER_CODES: dict[int, str] = {
    100001: "dhl_express",
    100002: "ups",
    100003: "fedex",
    100005: "gls",
    21051: "usps",
    7041: "dhl_parcel_de",
    3011: "china_post",
    3013: "china_post",
    100049: "ontrac",
    100104: "lasership",
    100143: "amazon_logistics",
}


def carrier_slug_for(code: object, name: str | None = None) -> str:
    """Our slug for a 17TRACK carrier key (`100002` -> `ups`); an unlisted key by its provider `name`."""
    try:
        key = int(str(code))
    except ValueError:
        key = 0
    if key in CARRIER_CODES:
        return CARRIER_CODES[key]
    return carrier_slug(name) if name else UNKNOWN_CARRIER


def carrier_code_for(slug: str | None) -> int | None:
    """17TRACK's key for one of our slugs, None when we have none (17TRACK then detects the carrier)."""
    return next((key for key, ours in CARRIER_CODES.items() if ours == slug), None) if slug else None

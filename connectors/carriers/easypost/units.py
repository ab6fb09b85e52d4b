"""EasyPost's units table: every Tracker `status` and `status_detail` EasyPost sends, onto ours.

One place to read (and extend) when EasyPost documents a new code; the mapper only asks `map_status`.
"""

from __future__ import annotations

from domain import ExceptionReason, TrackingStatus

STATUS_MAP: dict[str, TrackingStatus] = {
    "unknown": TrackingStatus.UNKNOWN,
    "pre_transit": TrackingStatus.PENDING,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "available_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "delivered": TrackingStatus.DELIVERED,
    "return_to_sender": TrackingStatus.RETURNING,
    "failure": TrackingStatus.EXCEPTION,
    "cancelled": TrackingStatus.CANCELLED,
    "canceled": TrackingStatus.CANCELLED,
    # `error` means EasyPost could not get data from the carrier: it says nothing about the parcel,
    # so it must not alert the customer. The stall rules notice if it lasts.
    "error": TrackingStatus.UNKNOWN,
}

# `status_detail` values that say more than the status does. They win over the status, except for
# the settled statuses in SETTLED_STATUSES (a delivered parcel stays delivered whatever the detail).
DETAIL_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    # carrier tried and failed; it will usually try again
    "delivery_attempted": (TrackingStatus.ATTEMPT_FAILED, None),
    "attempted_delivery": (TrackingStatus.ATTEMPT_FAILED, None),
    "failed_attempt": (TrackingStatus.ATTEMPT_FAILED, None),
    "notice_left": (TrackingStatus.ATTEMPT_FAILED, None),
    # waiting at a counter or locker
    "arrived_at_pickup_location": (TrackingStatus.AVAILABLE_FOR_PICKUP, None),
    "available_for_pickup": (TrackingStatus.AVAILABLE_FOR_PICKUP, None),
    # exceptions, with the reason our delay rules and templates speak of
    "weather_delay": (TrackingStatus.EXCEPTION, ExceptionReason.WEATHER),
    "damaged": (TrackingStatus.EXCEPTION, ExceptionReason.DAMAGED),
    "lost": (TrackingStatus.EXCEPTION, ExceptionReason.LOST),
    "customs_hold": (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    "held_by_customs": (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    "customs_delay": (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    "address_correction": (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
    "address_issue": (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
    "incorrect_address": (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
    "refused": (TrackingStatus.EXCEPTION, ExceptionReason.REFUSED),
    "delivery_exception": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "transit_exception": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "held": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "awaiting_information": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "failure": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    # life-cycle ends and turns
    "return": (TrackingStatus.RETURNING, None),
    "return_to_sender": (TrackingStatus.RETURNING, None),
    "cancelled": (TrackingStatus.CANCELLED, None),
    "expired": (TrackingStatus.EXPIRED, None),
    "label_created": (TrackingStatus.PENDING, None),
    "out_for_delivery": (TrackingStatus.OUT_FOR_DELIVERY, None),
}

# Statuses EasyPost only sets once the outcome is settled; their detail cannot change our status.
SETTLED_STATUSES = frozenset({"delivered", "cancelled", "canceled", "return_to_sender"})


def map_status(status: str | None, status_detail: str | None) -> tuple[TrackingStatus, ExceptionReason | None]:
    """Our status (and exception reason) for an EasyPost status + status_detail pair."""
    status = (status or "unknown").lower()
    detail = (status_detail or "").lower()
    if status not in SETTLED_STATUSES and detail in DETAIL_MAP:
        return DETAIL_MAP[detail]
    ours = STATUS_MAP.get(status, TrackingStatus.UNKNOWN)
    return ours, (ExceptionReason.OTHER if ours is TrackingStatus.EXCEPTION else None)

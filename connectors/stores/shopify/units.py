"""Shopify's codes -> ours: a fulfillment's `shipment_status` and `status`, and the topics we act on.

`shipment_status` values are Shopify's FulfillmentEventStatus (shopify.dev, lower-cased in REST payloads):
every one Shopify documents is listed; an unknown one maps to `unknown` and never crashes.
"""

from __future__ import annotations

import logging

from domain import ExceptionReason, TrackingStatus
from domain.stores import FulfillmentStatus

log = logging.getLogger("aftercare.connectors.shopify")

SHIPMENT_STATUS_MAP: dict[str, TrackingStatus] = {
    "label_printed": TrackingStatus.PENDING,
    "label_purchased": TrackingStatus.PENDING,
    "confirmed": TrackingStatus.PENDING,  # Shopify's default when it knows nothing more
    "submitted": TrackingStatus.PENDING,
    "carrier_picked_up": TrackingStatus.IN_TRANSIT,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "delayed": TrackingStatus.IN_TRANSIT,  # moving late: our own delay rules judge it, not an exception
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "attempted_delivery": TrackingStatus.ATTEMPT_FAILED,
    "ready_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "picked_up": TrackingStatus.DELIVERED,  # collected by the customer at the pickup point
    "delivered": TrackingStatus.DELIVERED,
    "failure": TrackingStatus.EXCEPTION,
    "not_delivered": TrackingStatus.EXCEPTION,
    "label_voided": TrackingStatus.CANCELLED,
}

EXCEPTION_REASONS: dict[str, ExceptionReason] = {
    "failure": ExceptionReason.OTHER,
    "not_delivered": ExceptionReason.OTHER,
}

# A fulfillment's own `status`: pending, open, success (the usual: it shipped), cancelled, error, failure.
CANCELLED_FULFILLMENT_STATUSES = frozenset({"cancelled", "error", "failure"})

ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/paid", "orders/cancelled"})
FULFILLMENT_TOPICS = frozenset({"fulfillments/create", "fulfillments/update"})
REFUND_TOPICS = frozenset({"refunds/create"})
TOPICS = ORDER_TOPICS | FULFILLMENT_TOPICS | REFUND_TOPICS
"""What `docs/CONNECTORS.md` tells merchants to subscribe to; any other topic is answered 200 and ignored."""


def map_shipment_status(code: str | None) -> TrackingStatus | None:
    """Our status for Shopify's `shipment_status`; None when Shopify sent none, `unknown` (logged) for a code
    Shopify added after this table was written."""
    if code is None or not code.strip():
        return None
    status = SHIPMENT_STATUS_MAP.get(code.strip().lower())
    if status is None:
        log.warning("unknown Shopify shipment_status %r mapped to unknown", code[:64])
        return TrackingStatus.UNKNOWN
    return status


def map_fulfillment_status(code: str | None) -> FulfillmentStatus:
    """A fulfillment Shopify cancelled (or that failed) stops its parcel's tracking; any other is active."""
    if code is not None and code.strip().lower() in CANCELLED_FULFILLMENT_STATUSES:
        return FulfillmentStatus.CANCELLED
    return FulfillmentStatus.ACTIVE

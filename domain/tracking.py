"""Parcels and their scans, in our own vocabulary that every carrier maps onto."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TrackingStatus(StrEnum):
    PENDING = "pending"  # label created, no scan yet
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    AVAILABLE_FOR_PICKUP = "available_for_pickup"
    ATTEMPT_FAILED = "attempt_failed"
    DELIVERED = "delivered"
    EXCEPTION = "exception"
    RETURNING = "returning"
    RETURNED = "returned"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


# A parcel in one of these is done: its tracking ends.
FINAL_STATUSES = frozenset(
    {TrackingStatus.DELIVERED, TrackingStatus.RETURNED, TrackingStatus.EXPIRED, TrackingStatus.CANCELLED}
)


class ExceptionReason(StrEnum):
    LOST = "lost"
    DAMAGED = "damaged"
    CUSTOMS = "customs"
    ADDRESS = "address"
    REFUSED = "refused"
    WEATHER = "weather"
    OTHER = "other"


class TrackingEvent(BaseModel):
    """One normalised carrier scan. `event_id` is stable across webhook and poll for the same scan."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(description="carrier's id, or a hash of (status, time, location) if none")
    carrier: str
    tracking_number: str
    status: TrackingStatus
    occurred_at: datetime
    description: str = ""
    location: str | None = None
    exception_reason: ExceptionReason | None = None
    estimated_delivery: datetime | None = None
    carrier_code: str | None = Field(default=None, description="the vendor's own status code")


class Shipment(BaseModel):
    """One parcel of an order. `items` maps line item id -> quantity in this parcel; empty = all."""

    model_config = ConfigDict(extra="forbid")

    carrier: str = Field(pattern=r"^[a-z0-9_-]{2,32}$")
    tracking_number: str = Field(pattern=r"^[A-Za-z0-9-]{4,64}$")
    items: dict[str, int] = Field(default_factory=dict)
    shipped_at: datetime | None = None
    tracking_url: str | None = None
    exchange_id: str | None = Field(
        default=None, description="set when this parcel carries an exchange's replacement (then `items` may be empty)"
    )

    @property
    def workflow_id(self) -> str:
        return shipment_workflow_id(self.carrier, self.tracking_number)


def shipment_workflow_id(carrier: str, tracking_number: str) -> str:
    return f"shipment-{carrier}-{tracking_number}"


class PollRequest(BaseModel):
    """Input of the `poll_carrier` activity."""

    carrier: str
    tracking_number: str


class PollResult(BaseModel):
    """Output of `poll_carrier`: every event the carrier knows for the parcel, oldest first."""

    events: list[TrackingEvent] = Field(default_factory=list)
    estimated_delivery: datetime | None = None

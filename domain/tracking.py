"""Parcels and their scans, in our own vocabulary that every carrier maps onto."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_PARCEL_QUANTITY = 10_000  # as domain.orders.MAX_QUANTITY: no line holds more
MAX_URL_LENGTH = 2048


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
    items: dict[
        Annotated[str, Field(min_length=1, max_length=128)], Annotated[int, Field(ge=1, le=MAX_PARCEL_QUANTITY)]
    ] = Field(default_factory=dict, max_length=500)
    shipped_at: datetime | None = None
    tracking_url: str | None = Field(default=None, max_length=MAX_URL_LENGTH, description="http(s) only")
    exchange_id: str | None = Field(
        default=None,
        max_length=128,
        description="set when this parcel carries an exchange's replacement (then `items` may be empty)",
    )

    @field_validator("tracking_url")
    @classmethod
    def _web_link(cls, v: str | None) -> str | None:
        """It becomes a button in the customer's email: only a web address, never `javascript:` or `data:`."""
        if v is None:
            return v
        try:
            parts = urlsplit(v)
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise ValueError("tracking_url must be an http:// or https:// address, e.g. https://carrier.example/t/1Z9")
        if any(c.isspace() or ord(c) < 32 for c in v):
            raise ValueError("tracking_url must not contain spaces or control characters")
        return v

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

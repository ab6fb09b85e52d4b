"""Parcels and their scans, in our own vocabulary that every carrier maps onto."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from domain.carriers import TRACKING_PROVIDERS, carrier_slug

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

    carrier: str = Field(
        pattern=r"^[a-z0-9_-]{2,32}$",
        description="who moves the parcel, by our slug (`domain.carriers`: ups, royal_mail...); for a shipment "
        "with no `provider`, the tracking provider's name as well (shipments recorded before the two were told apart)",
    )
    provider: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9_-]{2,32}$",
        description="the tracking provider we ask about the parcel (easypost, aftership, shippo, 17track, shopify...)",
    )
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
    def tracked_via(self) -> str:
        """The tracking provider: pushes arrive under its name and the tracking child's id names it."""
        return self.provider or self.carrier

    def workflow_id(self, merchant_id: str) -> str:
        """This parcel's tracking child for `merchant_id` (tracking numbers are unique per merchant only)."""
        return shipment_workflow_id(merchant_id, self.tracked_via, self.tracking_number)

    def with_provider(self, default_provider: str) -> Shipment:
        """This parcel with its tracking provider named: a shipment naming none gets `default_provider` (the
        merchant's `tracking.provider`) and its carrier as our slug. The old form, a `carrier` that is a
        provider's name (`carrier: easypost`), stays exactly as it is: same provider, same child id."""
        if self.provider is not None or self.carrier in TRACKING_PROVIDERS:
            return self
        return self.model_copy(update={"provider": default_provider, "carrier": carrier_slug(self.carrier)})


# Separates the parts of a tracking child's id. No merchant id, carrier or tracking number may contain it
# (their patterns allow letters, digits and `._:-` at most), so every (merchant, carrier, tracking number)
# has its own id and no id reads as two different parcels.
SHIPMENT_ID_SEPARATOR = "~"
_SHIPMENT_ID_PREFIX = "shipment"


def shipment_workflow_id(merchant_id: str, carrier: str, tracking_number: str) -> str:
    """The tracking child's workflow id: `shipment~{merchant}~{carrier}~{tracking number}`."""
    parts = (merchant_id, carrier, tracking_number)
    if any(not part or SHIPMENT_ID_SEPARATOR in part for part in parts):
        raise ValueError(
            f"merchant id, carrier and tracking number must be non-empty and free of {SHIPMENT_ID_SEPARATOR!r}"
        )
    return SHIPMENT_ID_SEPARATOR.join((_SHIPMENT_ID_PREFIX, *parts))


def legacy_shipment_workflow_id(carrier: str, tracking_number: str) -> str:
    """The id tracking children had before the `tenant-ids` patch: no merchant, and ambiguous (`ups-x` +
    `1234` and `ups` + `x-1234` give the same id). Only to find children started under it."""
    return f"shipment-{carrier}-{tracking_number}"


def shipment_workflow_ids(merchant_id: str, carrier: str, tracking_number: str) -> list[str]:
    """Where a parcel's tracking child may run, in the order to try: the current id, then the legacy one.
    Whoever reaches a child by the legacy id must check it is the parcel it meant (the legacy id is shared)."""
    return [
        shipment_workflow_id(merchant_id, carrier, tracking_number),
        legacy_shipment_workflow_id(carrier, tracking_number),
    ]


def parcel_of_workflow_id(workflow_id: str) -> str | None:
    """The tracking number a tracking child's id names, or None if the id is not a tracking child's (for
    display; the legacy format is read as `shipment-{carrier}-{rest}`, as the parcel's carrier cannot be told)."""
    parts = workflow_id.split(SHIPMENT_ID_SEPARATOR)
    if len(parts) == 4 and parts[0] == _SHIPMENT_ID_PREFIX:
        return parts[3]
    if workflow_id.startswith(_SHIPMENT_ID_PREFIX + "-") and workflow_id.count("-") >= 2:
        return workflow_id.split("-", 2)[2]
    return None


class PollRequest(BaseModel):
    """Input of the `poll_carrier` activity. `carrier` is whom we ask (the parcel's `tracked_via`: its tracking
    provider); `courier` the carrier that moves it, by our slug, where the provider needs it (AfterShip does)."""

    carrier: str
    tracking_number: str
    courier: str | None = None


class PollResult(BaseModel):
    """Output of `poll_carrier`: every event the carrier knows for the parcel, oldest first."""

    events: list[TrackingEvent] = Field(default_factory=list)
    estimated_delivery: datetime | None = None

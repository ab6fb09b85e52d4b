"""Typed models of the Shippo objects we read: Track, its TrackingStatus entries, and the webhook envelope.

They name Shippo's published fields (docs.goshippo.com API reference "Tracking Status", "Webhooks"; the
Shippo SDKs' `Track`, `TrackingStatus`, `TrackingStatusSubstatus`, `TrackingStatusLocationBase`). Every field
is optional and unknown ones are kept (`extra="allow"`): Shippo adds fields and carriers fill them unevenly.
The mapper reads the same names from the decoded JSON; the tests check the fixtures in
`tests/connectors/fixtures/shippo/` against these models so fixtures and code agree on Shippo's format.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class ShippoObject(BaseModel):
    model_config = ConfigDict(extra="allow")


class Location(ShippoObject):
    """`TrackingStatusLocationBase`: where a scan happened (also a Track's `address_from` / `address_to`)."""

    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None


class Substatus(ShippoObject):
    """A finer classification of a scan: `code` from Shippo's event definitions, `text` for people."""

    code: str
    text: str | None = None
    action_required: bool | None = None


class TrackingStatus(ShippoObject):
    """One scan (`tracking_status` is the latest, `tracking_history` all of them, oldest first).

    `status_date` is when the carrier scanned, in UTC; `object_id` is Shippo's id of this scan."""

    object_id: str | None = None
    object_created: str | None = None
    object_updated: str | None = None
    status: Literal["PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE", "UNKNOWN"] | str
    status_details: str | None = None
    status_date: str | None = None
    substatus: Substatus | None = None
    location: Location | None = None


class ServiceLevel(ShippoObject):
    name: str | None = None
    token: str | None = None
    terms: str | None = None
    extended_token: str | None = None
    parent_servicelevel: dict[str, Any] | None = None


class Track(ShippoObject):
    """A parcel as Shippo tracks it: `POST /tracks/`, `GET /tracks/{carrier}/{tracking_number}`, and the
    `data` of a `track_updated` webhook. `eta` is the carrier's current estimate, `original_eta` its first."""

    carrier: str | None = None
    tracking_number: str | None = None
    address_from: Location | None = None
    address_to: Location | None = None
    eta: str | None = None
    original_eta: str | None = None
    servicelevel: ServiceLevel | None = None
    metadata: str | None = None
    messages: list[Any] = []
    test: bool | None = None
    transaction: str | None = None
    tracking_status: TrackingStatus | None = None
    tracking_history: list[TrackingStatus] = []


class WebhookEvent(ShippoObject):
    """What Shippo POSTs to a webhook URL: `{"event": "track_updated", "test": false, "data": {Track}}`."""

    event: (
        Literal["track_updated", "transaction_created", "transaction_updated", "batch_created", "batch_purchased"] | str
    )
    test: bool | None = None
    data: dict[str, Any]


class ErrorResponse(ShippoObject):
    """A refused call: `{"detail": "..."}` (authentication, throttling), or field names with lists of messages."""

    detail: str | None = None

"""Typed models of the EasyPost objects we read: Tracker, TrackingDetail, TrackingLocation, Event, Shipment.

They name EasyPost's published fields (docs.easypost.com, "Tracker", "Event", "Shipment") in one
place. Every field is optional and unknown ones are kept (`extra="allow"`): EasyPost adds fields, and
data availability varies by carrier. The mapper reads the same field names from the decoded JSON
(and stays lenient about odd values); the tests check the fixtures in `tests/connectors/fixtures/
easypost/` against these models so fixtures and code agree on EasyPost's format.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class EasyPostObject(BaseModel):
    """What every EasyPost object has: an `id`, its `object` type name and the `mode` (test or production)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = None
    object: str
    mode: Literal["test", "production"] | None = None


class TrackingLocation(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: Literal["TrackingLocation"] = "TrackingLocation"
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip: str | None = None


class TrackingDetail(BaseModel):
    """One scan. EasyPost gives it no id; `datetime` is local time when the location allows, else UTC."""

    model_config = ConfigDict(extra="allow")

    object: Literal["TrackingDetail"] = "TrackingDetail"
    message: str | None = None
    description: str | None = None
    status: str | None = None
    status_detail: str | None = None
    datetime: str | None = None
    source: str | None = None
    carrier_code: str | None = None
    tracking_location: TrackingLocation | None = None
    est_delivery_date: str | None = None


class Tracker(EasyPostObject):
    object: Literal["Tracker"] = "Tracker"
    tracking_code: str
    status: str | None = None
    status_detail: str | None = None
    carrier: str | None = None
    est_delivery_date: str | None = None
    signed_by: str | None = None
    weight: float | None = None
    shipment_id: str | None = None
    is_return: bool | None = None
    public_url: str | None = None
    tracking_details: list[TrackingDetail] = []
    carrier_detail: dict[str, Any] | None = None
    created_at: str | None = None
    updated_at: str | None = None


class Event(EasyPostObject):
    """A webhook push: `description` names what happened (`tracker.updated`), `result` is the object."""

    object: Literal["Event"] = "Event"
    description: str
    result: dict[str, Any]
    previous_attributes: dict[str, Any] = {}
    status: str | None = None
    pending_urls: list[str] = []
    completed_urls: list[str] = []
    user_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class PostageLabel(EasyPostObject):
    object: Literal["PostageLabel"] = "PostageLabel"
    label_url: str | None = None
    label_date: str | None = None
    label_file_type: str | None = None


class Shipment(EasyPostObject):
    """A bought shipment; a return label is one with `is_return: true`, found again by its `reference`."""

    object: Literal["Shipment"] = "Shipment"
    reference: str | None = None
    is_return: bool | None = None
    tracking_code: str | None = None
    to_address: dict[str, Any] | None = None
    from_address: dict[str, Any] | None = None
    parcel: dict[str, Any] | None = None
    selected_rate: dict[str, Any] | None = None
    postage_label: PostageLabel | None = None
    tracker: Tracker | None = None
    created_at: str | None = None


class FieldError(BaseModel):
    model_config = ConfigDict(extra="allow")

    field: str
    message: str | None = None


class Error(BaseModel):
    """The body of a failed call: `{"error": {"code", "message", "errors": [{"field", "message"}]}}`."""

    model_config = ConfigDict(extra="allow")

    code: str | None = None
    message: str | None = None
    errors: list[FieldError | dict[str, Any]] = []


class ErrorResponse(BaseModel):
    error: Error

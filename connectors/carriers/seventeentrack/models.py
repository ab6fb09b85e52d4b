"""Typed models of the 17TRACK Tracking API v2.2 objects we read: the `track_info` of a parcel, its events,
the `register` / `gettrackinfo` answers and the webhook envelope.

They name 17TRACK's published fields (api.17track.net, v2.2: "Register", "Get tracking details", "Webhook").
Every field is optional and unknown ones are kept (`extra="allow"`): 17TRACK adds fields per version and
carriers fill them unevenly. The mapper reads the same names from the decoded JSON; the tests check the
fixtures in `tests/connectors/fixtures/17track/` against these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SeventeenObject(BaseModel):
    model_config = ConfigDict(extra="allow")


class Coordinates(SeventeenObject):
    longitude: str | float | None = None
    latitude: str | float | None = None


class Address(SeventeenObject):
    country: str | None = None
    state: str | None = None
    city: str | None = None
    street: str | None = None
    postal_code: str | None = None
    coordinates: Coordinates | None = None


class TimeRaw(SeventeenObject):
    """The time as the carrier wrote it (v2.2), when it gave no zone we could trust."""

    date: str | None = None
    time: str | None = None
    timezone: str | None = None


class TrackEvent(SeventeenObject):
    """One scan. `time_iso` keeps the carrier's offset, `time_utc` is the same moment in UTC; no id."""

    time_iso: str | None = None
    time_utc: str | None = None
    time_raw: TimeRaw | None = None
    description: str | None = None
    description_translation: dict[str, Any] | None = None
    location: str | None = None
    stage: str | None = None
    sub_status: str | None = None
    address: Address | None = None


class LatestStatus(SeventeenObject):
    status: str | None = None
    sub_status: str | None = None
    sub_status_descr: str | None = None


class EstimatedDeliveryDate(SeventeenObject):
    """The carrier's (or 17TRACK's) delivery window; `source` says whose."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    source: str | None = None
    from_: str | None = Field(default=None, alias="from")  # `from` is a Python keyword
    to: str | None = None


class TimeMetrics(SeventeenObject):
    days_after_order: int | None = None
    days_of_transit: int | None = None
    days_of_transit_done: int | None = None
    days_after_last_update: int | None = None
    estimated_delivery_date: EstimatedDeliveryDate | None = None


class Milestone(SeventeenObject):
    key_stage: str | None = None
    time_iso: str | None = None
    time_utc: str | None = None


class ProviderInfo(SeventeenObject):
    key: int | None = None
    name: str | None = None
    alias: str | None = None
    tel: str | None = None
    homepage: str | None = None
    country: str | None = None


class ProviderTracking(SeventeenObject):
    """One carrier's scans (a parcel handed from one carrier to another has several providers)."""

    provider: ProviderInfo | None = None
    service_type: str | None = None
    latest_sync_status: str | None = None
    latest_sync_time: str | None = None
    events_hash: int | None = None
    events: list[TrackEvent] = []


class Tracking(SeventeenObject):
    providers_hash: int | None = None
    providers: list[ProviderTracking] = []


class TrackInfo(SeventeenObject):
    shipping_info: dict[str, Any] | None = None
    latest_status: LatestStatus | None = None
    latest_event: TrackEvent | None = None
    time_metrics: TimeMetrics | None = None
    milestone: list[Milestone] = []
    misc_info: dict[str, Any] | None = None
    tracking: Tracking | None = None


class TrackData(SeventeenObject):
    """A parcel: in `gettrackinfo`'s `accepted` list, and the `data` of a TRACKING_UPDATED push."""

    number: str
    carrier: int | None = None
    param: Any = None
    tag: str | None = None
    track_info: TrackInfo | None = None


class RejectedError(SeventeenObject):
    code: int | None = None
    message: str | None = None


class Rejected(SeventeenObject):
    number: str | None = None
    error: RejectedError | None = None


class Accepted(SeventeenObject):
    """A `register` acceptance (`number`, `carrier`, `origin`) or a `gettrackinfo` one (with `track_info`)."""

    number: str
    carrier: int | None = None
    origin: int | None = None
    tag: str | None = None
    track_info: TrackInfo | None = None


class ResponseData(SeventeenObject):
    accepted: list[Accepted] = []
    rejected: list[Rejected] = []
    errors: list[RejectedError] = []


class ApiResponse(SeventeenObject):
    """Every answer: `{"code": 0, "data": {"accepted": [...], "rejected": [...]}}`; `code` non-zero is an error."""

    code: int
    data: ResponseData | None = None


class WebhookEvent(SeventeenObject):
    """What 17TRACK POSTs: `{"event": "TRACKING_UPDATED" | "TRACKING_STOPPED", "data": {...}}`."""

    event: str
    data: dict[str, Any]

"""Typed models of the AfterShip objects we read: Tracking, Checkpoint, the EDD objects, the response
envelope (`{"meta": ..., "data": ...}`) and the webhook (`{"event", "event_id", "msg", "ts"}`).

Field names are AfterShip's (Tracking API "Tracking" and "Checkpoint" models, "Body Envelope", "Webhook
Specifications"). Every field is optional and unknown ones are kept (`extra="allow"`): AfterShip adds fields,
and webhook versions rename some (`zip` became `postal_code`). The mapper reads the same names from the decoded
JSON; the tests check `tests/connectors/fixtures/aftership/` against these models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class Checkpoint(_Open):
    """One scan. No id: `checkpoint_time` is the carrier's local time, with an offset when the carrier gives one."""

    slug: str | None = None
    created_at: str | None = None
    checkpoint_time: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    postal_code: str | None = None
    country_iso3: str | None = None
    country_name: str | None = None
    location: str | None = None
    message: str | None = None
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    raw_tag: str | None = None
    coordinates: list[Any] | None = None


class EstimatedDelivery(_Open):
    """`aftership_estimated_delivery_date` (AfterShip's prediction) and `courier_estimated_delivery_date`."""

    estimated_delivery_date: str | None = None
    estimated_delivery_date_min: str | None = None
    estimated_delivery_date_max: str | None = None
    confidence_score: float | None = None


class Tracking(_Open):
    id: str | None = None
    legacy_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_updated_at: str | None = None
    tracking_number: str | None = None
    slug: str | None = None
    active: bool | None = None
    title: str | None = None
    order_id: str | None = None
    tag: str | None = None
    subtag: str | None = None
    subtag_message: str | None = None
    expected_delivery: str | None = None
    aftership_estimated_delivery_date: EstimatedDelivery | None = None
    courier_estimated_delivery_date: EstimatedDelivery | None = None
    origin_country_iso3: str | None = None
    destination_country_iso3: str | None = None
    shipment_delivery_date: str | None = None
    signed_by: str | None = None
    tracked_count: int | None = None
    checkpoints: list[Checkpoint] = []


class Meta(_Open):
    code: int
    message: str | None = None
    type: str | None = None


class TrackingData(_Open):
    tracking: Tracking | None = None


class Envelope(_Open):
    """Every answer of the v4 API: `meta` (code, message, type) and `data` (`{"tracking": {...}}`)."""

    meta: Meta
    data: TrackingData | dict[str, Any] | None = None


class WebhookEvent(_Open):
    """A Tracking webhook: `event` is tracking_update, edd_revise or tracking_pending_time; `msg` the Tracking."""

    event: str
    event_id: str | None = None
    is_tracking_first_tag: bool | None = None
    msg: Tracking
    ts: int | None = None

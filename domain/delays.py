"""Delays are our detection, not a carrier status: each kind alerts once per episode."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel


class DelayKind(StrEnum):
    FULFILLMENT_LATE = "fulfillment_late"  # no shipment within the SLA
    PICKUP_LATE = "pickup_late"  # label but no scan
    STALLED = "stalled"  # no scan for too long
    EDD_MISSED = "edd_missed"
    EDD_REVISED = "edd_revised"
    CARRIER_EXCEPTION = "carrier_exception"


class DelayAlert(BaseModel):
    """A detected delay: what, when, for which parcel (None = the whole order), and escalation level."""

    kind: DelayKind
    detected_at: datetime
    tracking_number: str | None = None
    level: int = 1
    detail: str = ""

"""Shippo's units table: every tracking `status` and `substatus.code` Shippo documents, and its carrier tokens.

Statuses and sub-statuses are Shippo's published "event definitions" (docs.goshippo.com, Tracking); carrier
tokens are its `CarriersEnum`. One place to read (and extend) when Shippo adds a code; the mapper only asks
`map_status` and `carrier_slug_for`. An unknown code reads as `unknown` and is counted (`note_unknown`).
"""

from __future__ import annotations

import re

from connectors.carriers.unknown_codes import note_unknown
from domain import ExceptionReason, TrackingStatus
from domain.carriers import carrier_slug

PROVIDER = "shippo"

STATUS_MAP: dict[str, TrackingStatus] = {
    "PRE_TRANSIT": TrackingStatus.PENDING,
    "TRANSIT": TrackingStatus.IN_TRANSIT,
    "DELIVERED": TrackingStatus.DELIVERED,
    "RETURNED": TrackingStatus.RETURNED,
    "FAILURE": TrackingStatus.EXCEPTION,
    # Shippo could not get anything from the carrier: says nothing about the parcel, alerts nobody
    "UNKNOWN": TrackingStatus.UNKNOWN,
}

_T, _R = TrackingStatus, ExceptionReason
# `substatus.code` says more than the status; it wins except under the settled statuses below.
SUBSTATUS_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    # PRE_TRANSIT
    "information_received": (_T.PENDING, None),
    # TRANSIT
    "address_issue": (_T.EXCEPTION, _R.ADDRESS),
    "contact_carrier": (_T.EXCEPTION, _R.OTHER),
    # a late parcel, not a problem with it: our own EDD rules (edd_missed, edd_revised) measure lateness
    "delayed": (_T.IN_TRANSIT, None),
    "delivery_attempted": (_T.ATTEMPT_FAILED, None),
    "delivery_rescheduled": (_T.IN_TRANSIT, None),
    "delivery_scheduled": (_T.IN_TRANSIT, None),
    "location_inaccessible": (_T.ATTEMPT_FAILED, None),
    "notice_left": (_T.ATTEMPT_FAILED, None),
    "out_for_delivery": (_T.OUT_FOR_DELIVERY, None),
    "package_accepted": (_T.IN_TRANSIT, None),
    "package_arrived": (_T.IN_TRANSIT, None),
    "package_damaged": (_T.EXCEPTION, _R.DAMAGED),
    "package_departed": (_T.IN_TRANSIT, None),
    "package_forwarded": (_T.IN_TRANSIT, None),
    "package_held": (_T.EXCEPTION, _R.OTHER),
    "package_processed": (_T.IN_TRANSIT, None),
    "package_processing": (_T.IN_TRANSIT, None),
    "pickup_available": (_T.AVAILABLE_FOR_PICKUP, None),
    "reschedule_delivery": (_T.ATTEMPT_FAILED, None),
    # DELIVERED
    "delivered": (_T.DELIVERED, None),
    # RETURNED (under that status the parcel is back: see SETTLED_STATUSES); elsewhere it is on its way back
    "return_to_sender": (_T.RETURNING, None),
    "package_unclaimed": (_T.RETURNING, None),
    # FAILURE
    "package_undeliverable": (_T.EXCEPTION, _R.OTHER),
    "package_disposed": (_T.EXCEPTION, _R.LOST),  # gone for good: to the customer, as a lost parcel
    "package_lost": (_T.EXCEPTION, _R.LOST),
}
# Shippo's "unrecognized carrier status": the status alone says what we know
OTHER_SUBSTATUS = "other"

# Statuses Shippo sets once the outcome is settled: no sub-status changes what they mean.
SETTLED_STATUSES = frozenset({"DELIVERED", "RETURNED"})


def map_status(status: str | None, substatus: str | None) -> tuple[TrackingStatus, ExceptionReason | None]:
    """Our status (and exception reason) for a Shippo `status` + `substatus.code` pair."""
    status = (status or "UNKNOWN").upper()
    code = (substatus or "").lower()
    known_code = code in SUBSTATUS_MAP
    if code and not known_code and code != OTHER_SUBSTATUS:
        note_unknown(PROVIDER, code)
    if status not in STATUS_MAP:
        note_unknown(PROVIDER, status)
        return SUBSTATUS_MAP[code] if known_code else (TrackingStatus.UNKNOWN, None)
    if status not in SETTLED_STATUSES and known_code:
        return SUBSTATUS_MAP[code]
    ours = STATUS_MAP[status]
    return ours, (ExceptionReason.OTHER if ours is TrackingStatus.EXCEPTION else None)


# Shippo carrier tokens whose name is not our slug (the others, usps, ups, fedex, royal_mail..., are ours).
CARRIER_SLUGS: dict[str, str] = {
    "dhl_germany": "dhl_parcel_de",
    "dhl_germany_c2c": "dhl_parcel_de",
    "deutsche_post": "dhl_parcel_de",
    "hermes_uk": "evri",
    "dpd_uk": "dpd",
    "dpd_de": "dpd",
    "gls_us": "gls",
    "correos_espana": "correos",
    "fastway_australia": "aramex",
    "axlehire": "jitsu",
    "rr_donnelley": "epost_global",
}


def carrier_slug_for(token: str | None) -> str:
    """Our carrier slug for a Shippo carrier token (`hermes_uk` -> `evri`, `usps` -> `usps`)."""
    token = (token or "").strip().lower()
    return CARRIER_SLUGS.get(token) or carrier_slug(token)


def carrier_token_for(slug: str) -> str:
    """The Shippo token for one of our slugs (the inverse of `carrier_slug_for`, first token wins)."""
    for token, ours in CARRIER_SLUGS.items():
        if ours == slug:
            return token
    return slug


# Tracking numbers whose shape names their carrier; used only when nobody told us the carrier.
_NUMBER_SHAPES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^1Z[0-9A-Z]{16}$"), "ups"),
    (re.compile(r"^(9[1-5]\d{18,20}|82\d{8}|[A-Z]{2}\d{9}US)$"), "usps"),
    (re.compile(r"^[A-Z]{2}\d{9}GB$"), "royal_mail"),
    (re.compile(r"^(\d{12}|\d{15}|\d{20})$"), "fedex"),
    (re.compile(r"^\d{10}$"), "dhl_express"),
)


def guess_carrier_token(tracking_number: str) -> str | None:
    """Shippo's token for the carrier a tracking number's shape names (UPS `1Z...`), None if it names none."""
    number = tracking_number.strip().upper()
    for shape, token in _NUMBER_SHAPES:
        if shape.match(number):
            return token
    return None

"""AfterShip's units table: every delivery status (`tag`) and sub-status (`subtag`) AfterShip documents, onto
ours, and AfterShip's courier slugs onto our carrier slugs.

Sources: AfterShip Tracking docs, "Delivery Statuses" (the 9 tags) and "Delivery Sub-statuses" (Delivered_001
... Expired_001). A subtag says more than its tag and wins; a code in neither table is `unknown` (the caller
logs and counts it through `connectors.carriers.unknown_codes`).
"""

from __future__ import annotations

from domain import ExceptionReason, TrackingStatus
from domain.carriers import carrier_slug

S = TrackingStatus
R = ExceptionReason

TAG_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    "Pending": (S.PENDING, None),  # no carrier information yet
    "InfoReceived": (S.PENDING, None),  # the carrier has the label data, the parcel is not picked up
    "InTransit": (S.IN_TRANSIT, None),
    "OutForDelivery": (S.OUT_FOR_DELIVERY, None),
    "AttemptFail": (S.ATTEMPT_FAILED, None),
    "Delivered": (S.DELIVERED, None),
    "AvailableForPickup": (S.AVAILABLE_FOR_PICKUP, None),
    "Exception": (S.EXCEPTION, R.OTHER),
    "Expired": (S.EXPIRED, None),  # no carrier information 30 days after the tracking was added
}

SUBTAG_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    "Delivered_001": (S.DELIVERED, None),  # delivered
    "Delivered_002": (S.DELIVERED, None),  # picked up by the customer
    "Delivered_003": (S.DELIVERED, None),  # signed for by the customer
    "Delivered_004": (S.DELIVERED, None),  # delivered, cash on delivery collected
    "AvailableForPickup_001": (S.AVAILABLE_FOR_PICKUP, None),
    "Exception_001": (S.EXCEPTION, R.OTHER),  # shipping exception
    "Exception_002": (S.EXCEPTION, R.ADDRESS),  # customer moved
    "Exception_003": (S.EXCEPTION, R.REFUSED),  # customer refused delivery
    "Exception_004": (S.EXCEPTION, R.CUSTOMS),  # delayed in customs clearance
    "Exception_005": (S.EXCEPTION, R.OTHER),  # delayed by external factors
    "Exception_006": (S.EXCEPTION, R.OTHER),  # held for payment
    "Exception_007": (S.EXCEPTION, R.ADDRESS),  # incorrect address
    "Exception_008": (S.EXCEPTION, R.OTHER),  # pickup missed: not collected from the pickup point
    "Exception_009": (S.EXCEPTION, R.OTHER),  # rejected by the carrier (not within its guidelines)
    "Exception_010": (S.RETURNING, None),  # on its way back to the sender
    "Exception_011": (S.RETURNED, None),  # returned to the sender
    "Exception_012": (S.EXCEPTION, R.DAMAGED),
    "Exception_013": (S.EXCEPTION, R.LOST),
    "AttemptFail_001": (S.ATTEMPT_FAILED, None),  # failed attempt, notice left
    "AttemptFail_002": (S.ATTEMPT_FAILED, None),  # addressee not available
    "AttemptFail_003": (S.ATTEMPT_FAILED, None),  # business closed
    "InTransit_001": (S.IN_TRANSIT, None),  # on the way
    "InTransit_002": (S.IN_TRANSIT, None),  # acceptance scan
    "InTransit_003": (S.IN_TRANSIT, None),  # arrival scan at a hub
    "InTransit_004": (S.IN_TRANSIT, None),  # arrived in the destination country
    "InTransit_005": (S.IN_TRANSIT, None),  # customs clearance completed
    "InTransit_006": (S.IN_TRANSIT, None),  # handed to customs for clearance
    "InTransit_007": (S.IN_TRANSIT, None),  # departure scan
    "InTransit_008": (S.IN_TRANSIT, None),  # problem resolved, moving again
    "InTransit_009": (S.IN_TRANSIT, None),  # forwarded to a different delivery address
    "InfoReceived_001": (S.PENDING, None),  # the carrier is about to pick the parcel up
    "OutForDelivery_001": (S.OUT_FOR_DELIVERY, None),
    "OutForDelivery_002": (S.AVAILABLE_FOR_PICKUP, None),  # older lists: at the depot, available for pickup
    "OutForDelivery_003": (S.OUT_FOR_DELIVERY, None),  # customer contacted before delivery
    "OutForDelivery_004": (S.OUT_FOR_DELIVERY, None),  # delivery appointment scheduled
    "Pending_001": (S.PENDING, None),  # no information at the carrier yet
    "Pending_002": (S.PENDING, None),
    "Pending_003": (S.PENDING, None),
    "Pending_004": (S.PENDING, None),
    "Pending_005": (S.PENDING, None),
    "Pending_006": (S.PENDING, None),
    "Expired_001": (S.EXPIRED, None),  # no tracking information for 30 days
}

# AfterShip courier slugs -> ours (domain.carriers). A slug not here goes through carrier_slug (`ups` is `ups`).
COURIER_MAP: dict[str, str] = {
    "ups": "ups",
    "ups-mi": "ups",
    "fedex": "fedex",
    "fedex-uk": "fedex",
    "fedex-fims": "fedex",
    "usps": "usps",
    "dhl": "dhl_express",
    "dhl-global-mail": "dhl_ecommerce",
    "dhl-global-mail-asia": "dhl_ecommerce",
    "dhl-germany": "dhl_parcel_de",
    "deutsch-post": "dhl_parcel_de",
    "royal-mail": "royal_mail",
    "parcel-force": "parcelforce",
    "hermes": "evri",
    "hermes-uk": "evri",
    "dpd": "dpd",
    "dpd-uk": "dpd",
    "dpd-de": "dpd",
    "gls": "gls",
    "postnl": "postnl",
    "postnl-3s": "postnl",
    "colissimo": "colissimo",
    "la-poste-colissimo": "colissimo",
    "chronopost-france": "chronopost",
    "canada-post": "canada_post",
    "purolator": "purolator",
    "australia-post": "australia_post",
    "new-zealand-post": "new_zealand_post",
    "japan-post": "japan_post",
    "taqbin-jp": "yamato",
    "sf-express": "sf_express",
    "china-post": "china_post",
    "china-ems": "china_post",
    "spain-correos-es": "correos",
    "poste-italiane": "poste_italiane",
    "bpost": "bpost",
    "swiss-post": "swiss_post",
    "austrian-post": "austrian_post",
    "postnord": "postnord",
    "amazon": "amazon_logistics",
    "ontrac": "ontrac",
    "lasership": "lasership",
    "india-post": "india_post",
    "bluedart": "blue_dart",
    "aramex": "aramex",
}
# ours -> AfterShip's, for registering a parcel under the courier the merchant named (first spelling wins)
SLUG_FOR_CARRIER: dict[str, str] = {}
for _theirs, _ours in COURIER_MAP.items():
    SLUG_FOR_CARRIER.setdefault(_ours, _theirs)


def courier_to_carrier(slug: str | None) -> str:
    """Our carrier slug for an AfterShip courier slug (`royal-mail` -> `royal_mail`)."""
    if not slug:
        return carrier_slug(None)
    return COURIER_MAP.get(slug.lower()) or carrier_slug(slug)


def carrier_to_courier(carrier: str | None) -> str | None:
    """AfterShip's courier slug for our carrier slug; None lets AfterShip detect the courier itself."""
    if not carrier:
        return None
    return SLUG_FOR_CARRIER.get(carrier) or carrier.replace("_", "-")


def map_status(tag: str | None, subtag: str | None) -> tuple[TrackingStatus, ExceptionReason | None, bool]:
    """Our status and exception reason for a tag + subtag, and whether the table knew the code at all."""
    if subtag and subtag in SUBTAG_MAP:
        status, reason = SUBTAG_MAP[subtag]
        return status, reason, True
    if tag and tag in TAG_MAP:
        status, reason = TAG_MAP[tag]
        return status, reason, not subtag  # a known tag with a subtag we do not know is still worth counting
    return TrackingStatus.UNKNOWN, None, False

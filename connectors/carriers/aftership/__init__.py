"""AfterShip tracking connector, the karrio layout: `units` (the tag/subtag table and courier slugs), `mapper`
(a Tracking to our events), `proxy` (the HTTP calls, `AfterShipCarrier`), `error` (failed answers as
CarrierError), `models` (AfterShip's object shapes) and `webhook` (the `aftership-hmac-sha256` check).

AfterShip tracks parcels of every courier; a parcel is registered once (`POST /v4/trackings`) and AfterShip then
pushes each update as a webhook whose `msg` is the whole Tracking.
"""

from __future__ import annotations

from connectors.carriers.aftership.mapper import carrier_of, estimated_delivery, event_id_for, tracking_to_result
from connectors.carriers.aftership.proxy import AfterShipCarrier
from connectors.carriers.aftership.units import (
    COURIER_MAP,
    SUBTAG_MAP,
    TAG_MAP,
    carrier_to_courier,
    courier_to_carrier,
    map_status,
)
from connectors.carriers.aftership.webhook import SIGNATURE_HEADER, sign

__all__ = [
    "COURIER_MAP",
    "SIGNATURE_HEADER",
    "SUBTAG_MAP",
    "TAG_MAP",
    "AfterShipCarrier",
    "carrier_of",
    "carrier_to_courier",
    "courier_to_carrier",
    "estimated_delivery",
    "event_id_for",
    "map_status",
    "sign",
    "tracking_to_result",
]

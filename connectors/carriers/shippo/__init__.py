"""Shippo tracking connector, the karrio layout: `units` (status, sub-status and carrier tables), `mapper`
(Shippo's Track to our events), `proxy` (the HTTP calls, `ShippoCarrier`), `error` (failed answers as
CarrierError), `models` (Shippo's object shapes) and `webhook` (`Shippo-Auth-Signature` or `?token=`).

Shippo tracks parcels of many carriers; a parcel is registered once (`POST /tracks/`) and every change is
pushed to the account's `track_updated` webhooks as `{"event": "track_updated", "data": {Track}}`.
"""

from __future__ import annotations

from connectors.carriers.shippo.mapper import carrier_of, event_id_for, parse_datetime, track_to_result
from connectors.carriers.shippo.proxy import ShippoCarrier
from connectors.carriers.shippo.units import (
    CARRIER_SLUGS,
    SETTLED_STATUSES,
    STATUS_MAP,
    SUBSTATUS_MAP,
    carrier_slug_for,
    map_status,
)
from connectors.carriers.shippo.webhook import SIGNATURE_HEADER, sign

__all__ = [
    "CARRIER_SLUGS",
    "SETTLED_STATUSES",
    "SIGNATURE_HEADER",
    "STATUS_MAP",
    "SUBSTATUS_MAP",
    "ShippoCarrier",
    "carrier_of",
    "carrier_slug_for",
    "event_id_for",
    "map_status",
    "parse_datetime",
    "sign",
    "track_to_result",
]

"""17TRACK tracking connector (provider name `17track`), the karrio layout: `units` (status, sub-status, stage
and carrier-code tables), `mapper` (17TRACK's `track_info` to our events), `proxy` (the HTTP calls,
`SeventeenTrackCarrier`), `error` (failed answers as CarrierError), `models` (17TRACK's object shapes) and
`webhook` (the `sign` header: sha256 of body + "/" + security key).

17TRACK follows a registered number at its carrier (detected, or given by 17TRACK's numeric key) and pushes
`TRACKING_UPDATED` with the whole `track_info` on every change.
"""

from __future__ import annotations

from connectors.carriers.seventeentrack.mapper import carrier_of, event_id_for, parse_datetime, track_to_result
from connectors.carriers.seventeentrack.proxy import SeventeenTrackCarrier
from connectors.carriers.seventeentrack.units import (
    CARRIER_CODES,
    STAGE_MAP,
    STATUS_MAP,
    SUB_STATUS_MAP,
    carrier_slug_for,
    map_stage,
    map_status,
)
from connectors.carriers.seventeentrack.webhook import SIGNATURE_HEADER, sign

__all__ = [
    "CARRIER_CODES",
    "SIGNATURE_HEADER",
    "STAGE_MAP",
    "STATUS_MAP",
    "SUB_STATUS_MAP",
    "SeventeenTrackCarrier",
    "carrier_of",
    "carrier_slug_for",
    "event_id_for",
    "map_stage",
    "map_status",
    "parse_datetime",
    "sign",
    "track_to_result",
]

"""EasyPost carrier connector, the karrio layout: `units` (the status table), `mapper` (EasyPost's format
to ours and back), `proxy` (the HTTP calls, `EasyPostCarrier`), `error` (failed answers as CarrierError),
`models` (EasyPost's object shapes) and `webhook` (the `X-Hmac-Signature` check).

EasyPost tracks parcels of every carrier through one `Tracker` object; webhooks carry the whole
Tracker inside an `Event`. Return labels are Shipments bought in one call with `is_return: true`.
"""

from __future__ import annotations

from connectors.carriers.easypost.mapper import easypost_address, event_id_for, parse_datetime, tracker_to_result
from connectors.carriers.easypost.proxy import EasyPostCarrier
from connectors.carriers.easypost.units import DETAIL_MAP, SETTLED_STATUSES, STATUS_MAP, map_status
from connectors.carriers.easypost.webhook import SIGNATURE_HEADER, SIGNATURE_PREFIX, sign

__all__ = [
    "DETAIL_MAP",
    "SETTLED_STATUSES",
    "SIGNATURE_HEADER",
    "SIGNATURE_PREFIX",
    "STATUS_MAP",
    "EasyPostCarrier",
    "easypost_address",
    "event_id_for",
    "map_status",
    "parse_datetime",
    "sign",
    "tracker_to_result",
]

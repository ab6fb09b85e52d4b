"""Carrier connectors (tracking providers), one package each, and the registry the activities look them up in.

`easypost`, `aftership`, `shippo` and `seventeentrack` (name `17track`) track parcels of many carriers. A provider that
also makes return labels satisfies `ReturnLabelMaker` (EasyPost does).
"""

from __future__ import annotations

import httpx

from connectors.carriers.aftership import AfterShipCarrier
from connectors.carriers.base import CarrierClient, CarrierError, CourierAware, ReturnLabelMaker, WebhookError
from connectors.carriers.easypost import EasyPostCarrier
from connectors.carriers.seventeentrack import SeventeenTrackCarrier
from connectors.carriers.shippo import ShippoCarrier


def build_carriers(
    easypost_base_url: str,
    easypost_api_key: str,
    easypost_webhook_secret: str,
    *,
    aftership_base_url: str = "",
    aftership_api_key: str = "",
    aftership_webhook_secret: str = "",
    shippo_base_url: str = "",
    shippo_api_key: str = "",
    shippo_webhook_secret: str = "",
    seventeentrack_base_url: str = "",
    seventeentrack_api_key: str = "",
    seventeentrack_webhook_secret: str = "",
    http: httpx.AsyncClient | None = None,
) -> dict[str, CarrierClient]:
    """Every configured tracking provider by its `name` (a Shipment's `tracked_via`); the shell passes settings in.

    AfterShip, Shippo and 17TRACK join when their base URL is given (the settings always give one: the sandbox's)."""
    carriers: list[CarrierClient] = [
        EasyPostCarrier(easypost_base_url, easypost_api_key, easypost_webhook_secret, http=http),
    ]
    if aftership_base_url:
        carriers.append(AfterShipCarrier(aftership_base_url, aftership_api_key, aftership_webhook_secret, http=http))
    if shippo_base_url:
        carriers.append(ShippoCarrier(shippo_base_url, shippo_api_key, shippo_webhook_secret, http=http))
    if seventeentrack_base_url:
        carriers.append(
            SeventeenTrackCarrier(
                seventeentrack_base_url, seventeentrack_api_key, seventeentrack_webhook_secret, http=http
            )
        )
    return {c.name: c for c in carriers}


__all__ = [
    "AfterShipCarrier",
    "CarrierClient",
    "CarrierError",
    "CourierAware",
    "EasyPostCarrier",
    "ReturnLabelMaker",
    "SeventeenTrackCarrier",
    "ShippoCarrier",
    "WebhookError",
    "build_carriers",
]

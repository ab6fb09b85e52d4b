"""Carrier connectors, one package per carrier, and the registry the activities look carriers up in.

A carrier that also makes return labels satisfies `ReturnLabelMaker` (EasyPost does).
"""

from __future__ import annotations

import httpx

from connectors.carriers.aftership import AfterShipCarrier
from connectors.carriers.base import CarrierClient, CarrierError, CourierAware, ReturnLabelMaker, WebhookError
from connectors.carriers.easypost import EasyPostCarrier


def build_carriers(
    easypost_base_url: str,
    easypost_api_key: str,
    easypost_webhook_secret: str,
    *,
    aftership_base_url: str | None = None,
    aftership_api_key: str = "",
    aftership_webhook_secret: str = "",
    http: httpx.AsyncClient | None = None,
) -> dict[str, CarrierClient]:
    """Every configured tracking provider by its `name` (a Shipment's `tracked_via`); the shell passes settings in."""
    carriers: list[CarrierClient] = [
        EasyPostCarrier(easypost_base_url, easypost_api_key, easypost_webhook_secret, http=http),
    ]
    if aftership_base_url:
        carriers.append(AfterShipCarrier(aftership_base_url, aftership_api_key, aftership_webhook_secret, http=http))
    return {c.name: c for c in carriers}


__all__ = [
    "AfterShipCarrier",
    "CarrierClient",
    "CarrierError",
    "CourierAware",
    "EasyPostCarrier",
    "ReturnLabelMaker",
    "WebhookError",
    "build_carriers",
]

"""Shippo's HTTP calls: register a parcel for `track_updated` pushes, read its Track on demand, read pushes.

Shippo's Tracking API (docs.goshippo.com, "Tracking"): `POST /tracks/` with `carrier` and `tracking_number`
registers the parcel with every active `track_updated` webhook and answers its current Track; `GET
/tracks/{carrier}/{tracking_number}` reads it again. Auth is `Authorization: ShippoToken <API token>`.

Shippo needs the carrier token for both. We know it from the caller (our slug), from an earlier push or
registration, or failing that from the number's shape (UPS `1Z...`); without any, tracking is refused with
a message that says so. Registering twice is harmless (Shippo keeps one track), but costs a call: a parcel
registered by this process is read with `GET` afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import json_body, transport_error
from connectors.carriers.shippo import webhook
from connectors.carriers.shippo.error import track_error
from connectors.carriers.shippo.mapper import track_to_result
from connectors.carriers.shippo.units import carrier_token_for, guess_carrier_token
from connectors.http import VendorHttp
from domain import PollResult, TrackingEvent

API_VERSION = "2018-02-08"  # Shippo's latest API version (the `Shippo-API-Version` header)


class ShippoCarrier(VendorHttp):
    """CarrierClient for Shippo (`name = "shippo"`). Pass `http` to share a client and its pool."""

    name = "shippo"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        webhook_secret: str,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, http, timeout)
        self._headers = {"Authorization": f"ShippoToken {api_key}", "Shippo-API-Version": API_VERSION}
        self._webhook_secret = webhook_secret
        self._carriers: dict[str, str] = {}  # tracking number -> Shippo carrier token
        self._registered: set[str] = set()

    def _token(self, tracking_number: str, carrier: str | None) -> str:
        token = carrier_token_for(carrier) if carrier else None
        token = token or self._carriers.get(tracking_number) or guess_carrier_token(tracking_number)
        if not token:
            raise CarrierError(
                f"Shippo needs the carrier to track {tracking_number}: none was given and the number's shape "
                "names none",
                retryable=False,
            )
        self._carriers[tracking_number] = token
        return token

    async def register(self, tracking_number: str, carrier: str | None = None) -> PollResult:
        """Register the parcel for `track_updated` pushes; Shippo answers its current tracking."""
        token = self._token(tracking_number, carrier)
        payload = {"carrier": token, "tracking_number": tracking_number}
        track = await self._call("POST", "/tracks/", tracking_number, "registering", payload)
        self._registered.add(tracking_number)
        return track_to_result(track, self.name)

    async def track(self, tracking_number: str, carrier: str | None = None) -> PollResult:
        """Every scan Shippo knows for the parcel, oldest first; registers it for pushes the first time."""
        if tracking_number not in self._registered:
            return await self.register(tracking_number, carrier)
        token = self._token(tracking_number, carrier)
        path = f"/tracks/{quote(token, safe='')}/{quote(tracking_number, safe='')}"
        track = await self._call("GET", path, tracking_number, "tracking")
        return track_to_result(track, self.name)

    async def _call(
        self, method: str, path: str, tracking_number: str, doing: str, payload: Any = None
    ) -> dict[str, Any]:
        try:
            resp = await self._http.request(
                method, self.base_url + path, json=payload, headers=self._headers, timeout=self._timeout
            )
        except httpx.TransportError as exc:
            raise transport_error("Shippo", self.base_url, exc, f"{doing} {tracking_number}") from exc
        if not resp.is_success:
            raise track_error(resp, tracking_number, doing)
        body = json_body(resp, "Shippo")
        if not isinstance(body, dict) or "tracking_number" not in body:
            raise CarrierError("Shippo answered with something that is not a Track", retryable=True)
        return body

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str | None = None) -> list[TrackingEvent]:
        """Verify a Shippo push by its `Shippo-Auth-Signature` header and return the Track's events."""
        return self.parse_webhook_with_query(body, headers, {}, secret)

    def parse_webhook_with_query(
        self, body: bytes, headers: Mapping[str, str], query: Mapping[str, str], secret: str | None = None
    ) -> list[TrackingEvent]:
        """Verify a Shippo push (signature header, or `?token=` in the URL; with `secret`, a merchant's own, else
        ours) and return the Track's events."""
        track = webhook.track_of(body, headers, self._webhook_secret if secret is None else secret, query)
        number = str(track["tracking_number"])
        if track.get("carrier"):
            self._carriers[number] = str(track["carrier"])
            self._registered.add(number)  # Shippo pushes only parcels registered with it
        return track_to_result(track, self.name).events

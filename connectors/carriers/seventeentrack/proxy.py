"""17TRACK's HTTP calls: register a parcel for pushes, read its tracking on demand, read pushes.

Tracking API v2.2 (api.17track.net): `POST /track/v2.2/register` and `POST /track/v2.2/gettrackinfo`, each a
JSON list of `{"number", "carrier"?}` (17TRACK detects the carrier when none is given), authenticated by the
`17token` header. A registered parcel is followed by 17TRACK and pushed to the account's webhook on every
change; registering costs quota, so `track()` asks first and registers only a number 17TRACK does not know
(`-18019902`), then asks again. "Already registered" (`-18019901`) is success.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import json_body, transport_error
from connectors.carriers.seventeentrack import webhook
from connectors.carriers.seventeentrack.error import (
    ALREADY_REGISTERED,
    NOT_REGISTERED,
    errors_of,
    rejected_error,
    response_error,
)
from connectors.carriers.seventeentrack.mapper import track_to_result
from connectors.carriers.seventeentrack.units import carrier_code_for
from connectors.http import VendorHttp
from domain import PollResult, TrackingEvent

API = "/track/v2.2"


class SeventeenTrackCarrier(VendorHttp):
    """CarrierClient for 17TRACK (`name = "17track"`). Pass `http` to share a client and its pool."""

    name = "17track"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        webhook_key: str,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 10.0,
    ) -> None:
        super().__init__(base_url, http, timeout)
        self._headers = {"17token": api_key}
        self._webhook_key = webhook_key
        self._registered: set[str] = set()

    @staticmethod
    def _item(tracking_number: str, carrier: str | None) -> dict[str, Any]:
        item: dict[str, Any] = {"number": tracking_number}
        if (code := carrier_code_for(carrier)) is not None:
            item["carrier"] = code
        return item

    async def register(self, tracking_number: str, carrier: str | None = None) -> None:
        """Ask 17TRACK to follow the parcel and push its changes (already registered is fine)."""
        data = await self._call("register", self._item(tracking_number, carrier), tracking_number, "registering")
        for rejected in data.get("rejected") or []:
            error = rejected.get("error") if isinstance(rejected, Mapping) else None
            if isinstance(error, Mapping) and error.get("code") == ALREADY_REGISTERED:
                continue
            raise rejected_error(rejected, tracking_number, "registering")
        self._registered.add(tracking_number)

    async def track(self, tracking_number: str, carrier: str | None = None) -> PollResult:
        """Every scan 17TRACK knows for the parcel, oldest first; registers a number it does not know yet."""
        item = self._item(tracking_number, carrier)
        data = await self._call("gettrackinfo", item, tracking_number, "tracking")
        for rejected in data.get("rejected") or []:
            error = rejected.get("error") if isinstance(rejected, Mapping) else None
            if (
                isinstance(error, Mapping)
                and error.get("code") == NOT_REGISTERED
                and tracking_number not in self._registered
            ):
                await self.register(tracking_number, carrier)
                data = await self._call("gettrackinfo", item, tracking_number, "tracking")
                break
            raise rejected_error(rejected, tracking_number, "tracking")
        for accepted in data.get("accepted") or []:
            if isinstance(accepted, Mapping) and accepted.get("number") == tracking_number:
                self._registered.add(tracking_number)
                return track_to_result(accepted, self.name)
        return PollResult()  # registered, but 17TRACK has not fetched anything yet

    async def _call(self, endpoint: str, item: dict[str, Any], tracking_number: str, doing: str) -> dict[str, Any]:
        url = f"{self.base_url}{API}/{endpoint}"
        try:
            resp = await self._http.post(url, json=[item], headers=self._headers, timeout=self._timeout)
        except httpx.TransportError as exc:
            raise transport_error("17TRACK", self.base_url, exc, f"{doing} {tracking_number}") from exc
        if not resp.is_success:
            raise response_error(resp, tracking_number, doing)
        body = json_body(resp, "17TRACK")
        if not isinstance(body, dict) or body.get("code") != 0 or errors_of(body):
            raise response_error(resp, tracking_number, doing)
        data = body.get("data")
        if not isinstance(data, dict):
            raise CarrierError("17TRACK answered without `data`", retryable=True)
        return data

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str | None = None) -> list[TrackingEvent]:
        """Verify a 17TRACK push by its `sign` header (with `secret`, a merchant's own key, else ours) and return
        the parcel's events (none when it stopped)."""
        event, data = webhook.push_of(body, headers, self._webhook_key if secret is None else secret)
        self._registered.add(str(data["number"]))
        if event == webhook.STOPPED:
            return []
        return track_to_result(data, self.name).events

"""AfterShip's HTTP calls (Tracking API v4): register a parcel for pushes, read its tracking, verify pushes.

`POST /v4/trackings` (`{"tracking": {"slug", "tracking_number"}}`) registers a parcel, which is what makes
AfterShip push its updates; registering one it already has answers 4003 "Tracking already exists." with the
tracking's slug, so a retry registers nothing twice. `GET /v4/trackings/{slug}/{tracking_number}` reads it; a
4004 there means it is not registered (yet, or any more), and it is registered again. The courier slug comes
from our carrier (`units.carrier_to_courier`); without one AfterShip detects the courier itself.

Transient failures (timeouts, refused connections, 5xx) are retried here a few times with back-off; a 429 waits
its `Retry-After` when that is short, else the error carries it so the activity's next attempt waits that long.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.carriers.aftership import webhook
from connectors.carriers.aftership.error import TRACKING_EXISTS, TRACKING_MISSING, meta_of, tracking_error
from connectors.carriers.aftership.mapper import carrier_of, tracking_to_result
from connectors.carriers.aftership.units import carrier_to_courier
from connectors.carriers.base import CarrierError
from connectors.carriers.common import json_body, transport_error
from connectors.carriers.retry_after import retry_after
from connectors.http import VendorHttp
from domain import PollResult, TrackingEvent


class AfterShipCarrier(VendorHttp):
    """CarrierClient for AfterShip (`name = "aftership"`). Pass `http` to share a client and its pool."""

    name = "aftership"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        webhook_secret: str,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        backoff: float = 0.5,
        max_wait: float = 10.0,
    ) -> None:
        super().__init__(base_url, http, timeout)
        self._headers = {"as-api-key": api_key, "aftership-api-key": api_key}
        self._webhook_secret = webhook_secret
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._max_wait = max_wait
        self._slugs: dict[str, str] = {}  # tracking number -> AfterShip courier slug it is registered under

    async def track(self, tracking_number: str, carrier: str | None = None) -> PollResult:
        """Every checkpoint AfterShip has for the parcel, oldest first; registers the parcel if it is new."""
        slug = carrier_to_courier(carrier) or self._slugs.get(tracking_number)
        if slug is not None:
            found = await self._get(slug, tracking_number)
            if found is not None:
                return tracking_to_result(found, self.name)
        return tracking_to_result(await self._register(slug, tracking_number), self.name)

    async def _get(self, slug: str, number: str) -> dict[str, Any] | None:
        """The tracking, or None when AfterShip has none under this slug and number (4004)."""
        path = f"/v4/trackings/{quote(slug, safe='')}/{quote(number, safe='')}"
        resp = await self._send("GET", path, number, "reading a tracking")
        if resp.is_success:
            return self._remember(_tracking(resp))
        meta = meta_of(resp)
        if resp.status_code == 404 and meta is not None and meta.get("code") == TRACKING_MISSING:
            return None
        raise tracking_error(resp, number, "reading a tracking")

    async def _register(self, slug: str | None, number: str) -> dict[str, Any]:
        """Create the tracking (what subscribes it to pushes); one that exists already is read instead."""
        body: dict[str, Any] = {"tracking_number": number}
        if slug:
            body["slug"] = slug
        resp = await self._send("POST", "/v4/trackings", number, "registering a tracking", {"tracking": body})
        if resp.is_success:
            return self._remember(_tracking(resp))
        meta = meta_of(resp)
        if meta is not None and meta.get("code") == TRACKING_EXISTS:
            existing = (resp.json().get("data") or {}).get("tracking") or {}
            known_slug = str(existing.get("slug") or slug or "")
            if known_slug:
                found = await self._get(known_slug, number)
                if found is not None:
                    return found
        raise tracking_error(resp, number, "registering a tracking")

    def _remember(self, tracking: dict[str, Any]) -> dict[str, Any]:
        if tracking.get("slug") and tracking.get("tracking_number"):
            self._slugs[str(tracking["tracking_number"])] = str(tracking["slug"])
        return tracking

    async def _send(self, method: str, path: str, number: str, doing: str, payload: Any = None) -> httpx.Response:
        """One call, retried with back-off on transport failures and 5xx, and after a short `Retry-After`."""
        url = self.base_url + path
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts
            try:
                resp = await self._http.request(method, url, json=payload, headers=self._headers, timeout=self._timeout)
            except httpx.TransportError as exc:
                if last:
                    raise transport_error("AfterShip", self.base_url, exc, doing) from exc
            else:
                if resp.status_code == 429:
                    wait = retry_after(resp)
                    if last or (wait is not None and wait > self._max_wait):
                        raise tracking_error(resp, number, doing)
                    await asyncio.sleep(wait if wait is not None else self._backoff * 2 ** (attempt - 1))
                    continue
                if resp.status_code < 500 or last:
                    return resp
            await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable: the last attempt returns or raises")

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str | None = None) -> list[TrackingEvent]:
        """Verify an AfterShip push (with `secret`, a merchant's own, else ours) and return its Tracking's events."""
        tracking = webhook.tracking_of(body, headers, self._webhook_secret if secret is None else secret)
        return tracking_to_result(self._remember(tracking), self.name).events

    def pushed_carriers(self, body: bytes) -> dict[str, str]:
        """tracking number -> the carrier (our slug) a push verified by `parse_webhook` names."""
        msg = json.loads(body).get("msg") or {}
        carrier = carrier_of(msg)
        return {str(msg["tracking_number"]): carrier} if carrier and msg.get("tracking_number") else {}


def _tracking(resp: httpx.Response) -> dict[str, Any]:
    """`data.tracking` of a successful answer."""
    body = json_body(resp, "AfterShip")
    tracking = (body.get("data") or {}).get("tracking") if isinstance(body, dict) else None
    if not isinstance(tracking, dict):
        raise CarrierError("AfterShip answered without data.tracking", retryable=True)
    return tracking

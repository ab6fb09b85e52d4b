"""EasyPost's HTTP calls: find-or-create Trackers, buy return-label Shipments, read signed webhooks.

EasyPost deduplicates trackers (creating one for a code it already tracks returns the existing
tracker), so `track()` finds-or-creates with `POST /v2/trackers`; once it knows the tracker id it reads
it with `GET /v2/trackers/{id}` instead, and creates it again if that answers 404.

Return labels are Shipments bought in one call (`carrier` + `service` given at creation) with
`is_return: true`. EasyPost has no idempotency keys, but a shipment can be fetched by its `reference`
in place of its id: we use our idempotency key as the reference and look it up before buying, so a
retried activity buys one label.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from connectors.carriers.base import CarrierError
from connectors.carriers.common import json_body, transport_error
from connectors.carriers.easypost import webhook
from connectors.carriers.easypost.error import easypost_error, shipment_error, tracker_error
from connectors.carriers.easypost.mapper import label_created_at, label_of, return_shipment, tracker_to_result
from connectors.http import VendorHttp
from domain import PollResult, ReturnLabel, ReturnLabelRequest, TrackingEvent


class EasyPostCarrier(VendorHttp):
    """CarrierClient for EasyPost (`name = "easypost"`). Pass `http` to share a client and its pool."""

    name = "easypost"

    def __init__(
        self,
        base_url: str,
        api_key: str,
        webhook_secret: str,
        http: httpx.AsyncClient | None = None,
        *,
        timeout: float = 10.0,
        return_carrier: str = "USPS",
        return_service: str = "GroundAdvantage",
    ) -> None:
        super().__init__(base_url, http, timeout)
        self._auth = httpx.BasicAuth(api_key, "")
        self._webhook_secret = webhook_secret
        self._tracker_ids: dict[str, str] = {}  # tracking code -> trk_ id; saves a create per poll
        self.return_carrier = return_carrier  # the carrier and service return labels are bought with
        self.return_service = return_service

    async def track(self, tracking_number: str) -> PollResult:
        """Every scan EasyPost knows for the parcel, oldest first, and its estimated delivery."""
        tracker_id = self._tracker_ids.get(tracking_number)
        if tracker_id is not None:
            try:
                tracker = await self._request("GET", f"/v2/trackers/{tracker_id}", tracking_number)
            except CarrierError as err:
                if err.status_code != 404:
                    raise
                self._tracker_ids.pop(tracking_number, None)  # tracker gone: create it again below
            else:
                return tracker_to_result(tracker, self.name)
        tracker = await self._request(
            "POST", "/v2/trackers", tracking_number, payload={"tracker": {"tracking_code": tracking_number}}
        )
        if tracker.get("id"):
            self._tracker_ids[tracking_number] = str(tracker["id"])
        return tracker_to_result(tracker, self.name)

    async def _request(self, method: str, path: str, tracking_number: str, payload: Any = None) -> dict[str, Any]:
        resp = await self._send(method, path, payload)
        if resp.is_success:
            return _object(resp, "Tracker")
        raise tracker_error(resp, tracking_number)

    async def _send(self, method: str, path: str, payload: Any = None, doing: str = "") -> httpx.Response:
        url = self.base_url + path
        try:
            return await self._http.request(method, url, json=payload, auth=self._auth, timeout=self._timeout)
        except httpx.TransportError as exc:
            raise transport_error("EasyPost", self.base_url, exc, doing) from exc

    async def create_return_label(self, request: ReturnLabelRequest) -> ReturnLabel:
        """A bought return label from the customer to the merchant; one per `request.idempotency_key`."""
        what = f"the return label for order {request.order_id}"
        doing = f"making {what}"
        # a retry after a lost answer: the shipment the first attempt bought is found by its reference
        found = await self._send("GET", f"/v2/shipments/{quote(request.idempotency_key, safe='')}", doing=doing)
        if found.is_success:
            shipment = _object(found, "Shipment")
            if label_of(shipment) is not None:
                return self._return_label(shipment, what)
        elif found.status_code != 404 or not easypost_error(found):
            raise shipment_error(found, what)
        payload = return_shipment(request, self.return_carrier, self.return_service)
        resp = await self._send("POST", "/v2/shipments", payload, doing=doing)
        if not resp.is_success:
            raise shipment_error(resp, what)
        return self._return_label(_object(resp, "Shipment"), what)

    def _return_label(self, shipment: Mapping[str, Any], what: str) -> ReturnLabel:
        label = label_of(shipment)
        if label is None:
            raise CarrierError(
                f"EasyPost created shipment {shipment.get('id')} for {what} but bought no label: is "
                f"{self.return_service!r} a {self.return_carrier} service on this EasyPost account?",
                retryable=False,
            )
        label_url, tracking_code = label
        created = label_created_at(shipment)
        return ReturnLabel(carrier=self.name, tracking_number=tracking_code, label_url=label_url, created_at=created)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str], secret: str | None = None) -> list[TrackingEvent]:
        """Verify an EasyPost webhook (with `secret`, a merchant's own, else ours) and return every event of the
        tracker it carries."""
        result = webhook.tracker_of(body, headers, self._webhook_secret if secret is None else secret)
        if result.get("id") and result.get("tracking_code"):
            self._tracker_ids[str(result["tracking_code"])] = str(result["id"])
        return tracker_to_result(result, self.name).events


def _object(resp: httpx.Response, expected: str) -> dict[str, Any]:
    """The JSON object of a successful answer, checked to be the EasyPost `object` we asked for."""
    body = json_body(resp, "EasyPost")
    if not isinstance(body, dict) or body.get("object") != expected:
        raise CarrierError(f"EasyPost answered with something that is not a {expected}", retryable=True)
    return body

"""EasyPost carrier connector: a units table, a mapper (Tracker -> our events) and a proxy (HTTP calls).

EasyPost tracks parcels of every carrier through one `Tracker` object. EasyPost deduplicates
trackers (creating one for a code it already tracks returns the existing tracker), so `track()`
finds-or-creates with `POST /v2/trackers`; once it knows the tracker id it reads it with
`GET /v2/trackers/{id}` instead, and creates it again if that answers 404.
Webhooks carry the whole Tracker inside an `Event`, signed with HMAC-SHA256 of the raw body in the
`X-Hmac-Signature` header (`hmac-sha256-hex=<digest>`, key = the NFKD-normalised webhook secret).

Return labels are Shipments bought in one call (`carrier` + `service` given at creation) with
`is_return: true`. EasyPost swaps the two addresses of a return itself, so we send them as the
outbound parcel had them: `to_address` the customer, `from_address` the merchant. EasyPost has no
idempotency keys, but a shipment can be fetched by its `reference` in place of its id: we use our
idempotency key as the reference and look it up before buying, so a retried activity buys one label.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from connectors.carriers.base import CarrierError, WebhookError
from domain import Address, ExceptionReason, PollResult, ReturnLabel, ReturnLabelRequest, TrackingEvent, TrackingStatus

SIGNATURE_HEADER = "X-Hmac-Signature"
SIGNATURE_PREFIX = "hmac-sha256-hex="

# --- units: every EasyPost `status` onto ours -------------------------------------------------

STATUS_MAP: dict[str, TrackingStatus] = {
    "unknown": TrackingStatus.UNKNOWN,
    "pre_transit": TrackingStatus.PENDING,
    "in_transit": TrackingStatus.IN_TRANSIT,
    "out_for_delivery": TrackingStatus.OUT_FOR_DELIVERY,
    "available_for_pickup": TrackingStatus.AVAILABLE_FOR_PICKUP,
    "delivered": TrackingStatus.DELIVERED,
    "return_to_sender": TrackingStatus.RETURNING,
    "failure": TrackingStatus.EXCEPTION,
    "cancelled": TrackingStatus.CANCELLED,
    "canceled": TrackingStatus.CANCELLED,
    # `error` means EasyPost could not get data from the carrier: it says nothing about the parcel,
    # so it must not alert the customer. The stall rules notice if it lasts.
    "error": TrackingStatus.UNKNOWN,
}

# `status_detail` values that say more than the status does. They win over the status, except for
# the settled statuses in SETTLED_STATUSES (a delivered parcel stays delivered whatever the detail).
DETAIL_MAP: dict[str, tuple[TrackingStatus, ExceptionReason | None]] = {
    # carrier tried and failed; it will usually try again
    "delivery_attempted": (TrackingStatus.ATTEMPT_FAILED, None),
    "attempted_delivery": (TrackingStatus.ATTEMPT_FAILED, None),
    "failed_attempt": (TrackingStatus.ATTEMPT_FAILED, None),
    "notice_left": (TrackingStatus.ATTEMPT_FAILED, None),
    # waiting at a counter or locker
    "arrived_at_pickup_location": (TrackingStatus.AVAILABLE_FOR_PICKUP, None),
    "available_for_pickup": (TrackingStatus.AVAILABLE_FOR_PICKUP, None),
    # exceptions, with the reason our delay rules and templates speak of
    "weather_delay": (TrackingStatus.EXCEPTION, ExceptionReason.WEATHER),
    "damaged": (TrackingStatus.EXCEPTION, ExceptionReason.DAMAGED),
    "lost": (TrackingStatus.EXCEPTION, ExceptionReason.LOST),
    "customs_hold": (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    "held_by_customs": (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    "customs_delay": (TrackingStatus.EXCEPTION, ExceptionReason.CUSTOMS),
    "address_correction": (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
    "address_issue": (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
    "incorrect_address": (TrackingStatus.EXCEPTION, ExceptionReason.ADDRESS),
    "refused": (TrackingStatus.EXCEPTION, ExceptionReason.REFUSED),
    "delivery_exception": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "transit_exception": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "held": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "awaiting_information": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    "failure": (TrackingStatus.EXCEPTION, ExceptionReason.OTHER),
    # life-cycle ends and turns
    "return": (TrackingStatus.RETURNING, None),
    "return_to_sender": (TrackingStatus.RETURNING, None),
    "cancelled": (TrackingStatus.CANCELLED, None),
    "expired": (TrackingStatus.EXPIRED, None),
    "label_created": (TrackingStatus.PENDING, None),
    "out_for_delivery": (TrackingStatus.OUT_FOR_DELIVERY, None),
}

# Statuses EasyPost only sets once the outcome is settled; their detail cannot change our status.
SETTLED_STATUSES = frozenset({"delivered", "cancelled", "canceled", "return_to_sender"})


def map_status(status: str | None, status_detail: str | None) -> tuple[TrackingStatus, ExceptionReason | None]:
    """Our status (and exception reason) for an EasyPost status + status_detail pair."""
    status = (status or "unknown").lower()
    detail = (status_detail or "").lower()
    if status not in SETTLED_STATUSES and detail in DETAIL_MAP:
        return DETAIL_MAP[detail]
    ours = STATUS_MAP.get(status, TrackingStatus.UNKNOWN)
    return ours, (ExceptionReason.OTHER if ours is TrackingStatus.EXCEPTION else None)


# --- mapper -----------------------------------------------------------------------------------


def parse_datetime(raw: Any) -> datetime | None:
    """EasyPost sends ISO 8601; a time without zone is UTC (their documented fallback)."""
    if not raw or not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def event_id_for(tracking_code: str, detail: Mapping[str, Any]) -> str:
    """A stable id for one scan: EasyPost details carry none, and webhook and poll must agree."""
    if detail.get("id"):
        return f"easypost:{detail['id']}"
    when = parse_datetime(detail.get("datetime"))
    parts = [
        tracking_code,
        when.astimezone(UTC).isoformat() if when else str(detail.get("datetime") or ""),
        str(detail.get("status") or ""),
        str(detail.get("status_detail") or ""),
        str(detail.get("message") or ""),
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"easypost:{digest}"


def _location(detail: Mapping[str, Any]) -> str | None:
    loc = detail.get("tracking_location") or {}
    if not isinstance(loc, Mapping):
        return None
    head = ", ".join(str(loc[k]) for k in ("city", "state", "country") if loc.get(k))
    text = " ".join(p for p in (head, str(loc.get("zip") or "")) if p)
    return text or None


def tracker_to_result(tracker: Mapping[str, Any], carrier: str = "easypost") -> PollResult:
    """Map one EasyPost Tracker to our events (oldest first) and its estimated delivery."""
    code = str(tracker.get("tracking_code") or "")
    edd = parse_datetime(tracker.get("est_delivery_date"))
    details = [d for d in tracker.get("tracking_details") or [] if isinstance(d, Mapping)]
    events: list[TrackingEvent] = []
    for detail in details:
        occurred = parse_datetime(detail.get("datetime"))
        if occurred is None:
            continue  # a scan without a time cannot be ordered or deduplicated; EasyPost always sends one
        status, reason = map_status(detail.get("status"), detail.get("status_detail"))
        raw_code = "/".join(str(detail.get(k)) for k in ("status", "status_detail") if detail.get(k))
        events.append(
            TrackingEvent(
                event_id=event_id_for(code, detail),
                carrier=carrier,
                tracking_number=code,
                status=status,
                occurred_at=occurred,
                description=str(detail.get("message") or detail.get("description") or ""),
                location=_location(detail),
                exception_reason=reason,
                estimated_delivery=parse_datetime(detail.get("est_delivery_date")),
                carrier_code=raw_code or None,
            )
        )
    events.sort(key=lambda e: e.occurred_at)
    if events and events[-1].estimated_delivery is None and edd is not None:
        events[-1] = events[-1].model_copy(update={"estimated_delivery": edd})
    return PollResult(events=events, estimated_delivery=edd)


def sign(body: bytes, secret: str) -> str:
    """The `X-Hmac-Signature` value EasyPost sends for `body`."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


# --- proxy ------------------------------------------------------------------------------------


class EasyPostCarrier:
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
        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(api_key, "")
        self._webhook_secret = webhook_secret
        self._http = http or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http is None
        self._timeout = timeout
        self._tracker_ids: dict[str, str] = {}  # tracking code -> trk_ id; saves a create per poll
        self.return_carrier = return_carrier  # the carrier and service return labels are bought with
        self.return_service = return_service

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

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
        raise _http_error(resp, tracking_number)

    async def _send(self, method: str, path: str, payload: Any = None, doing: str = "") -> httpx.Response:
        url = self.base_url + path
        context = f" {doing}" if doing else ""
        try:
            return await self._http.request(method, url, json=payload, auth=self._auth, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise CarrierError(f"EasyPost timed out{context} ({type(exc).__name__})", retryable=True) from exc
        except httpx.TransportError as exc:
            raise CarrierError(f"EasyPost unreachable at {self.base_url}{context}: {exc}", retryable=True) from exc

    async def create_return_label(self, request: ReturnLabelRequest) -> ReturnLabel:
        """A bought return label from the customer to the merchant; one per `request.idempotency_key`."""
        what = f"the return label for order {request.order_id}"
        doing = f"making {what}"
        # a retry after a lost answer: the shipment the first attempt bought is found by its reference
        found = await self._send("GET", f"/v2/shipments/{quote(request.idempotency_key, safe='')}", doing=doing)
        if found.is_success:
            shipment = _object(found, "Shipment")
            if _label_of(shipment) is not None:
                return self._return_label(shipment, what)
        elif found.status_code != 404 or not _easypost_error(found):
            raise _shipment_error(found, what)
        payload = {
            "shipment": {
                "to_address": easypost_address(request.from_address),  # EasyPost swaps these for a return
                "from_address": easypost_address(request.to_address),
                "parcel": {"weight": request.weight_oz},
                "is_return": True,
                "carrier": self.return_carrier,
                "service": self.return_service,
                "reference": request.idempotency_key,
                "options": {"label_format": "PNG", "print_custom_1": f"Return for order {request.order_id}"},
            }
        }
        resp = await self._send("POST", "/v2/shipments", payload, doing=doing)
        if not resp.is_success:
            raise _shipment_error(resp, what)
        return self._return_label(_object(resp, "Shipment"), what)

    def _return_label(self, shipment: Mapping[str, Any], what: str) -> ReturnLabel:
        label = _label_of(shipment)
        if label is None:
            raise CarrierError(
                f"EasyPost created shipment {shipment.get('id')} for {what} but bought no label: is "
                f"{self.return_service!r} a {self.return_carrier} service on this EasyPost account?",
                retryable=False,
            )
        label_url, tracking_code = label
        created = parse_datetime((shipment.get("postage_label") or {}).get("label_date"))
        created = created or parse_datetime(shipment.get("created_at")) or datetime.now(UTC)
        return ReturnLabel(carrier=self.name, tracking_number=tracking_code, label_url=label_url, created_at=created)

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[TrackingEvent]:
        """Verify an EasyPost webhook and return every event of the tracker it carries."""
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), None)
        if not given:
            raise WebhookError(f"missing {SIGNATURE_HEADER} header")
        if not self._webhook_secret:
            raise WebhookError("no EasyPost webhook secret is configured, cannot verify the signature")
        if not hmac.compare_digest(given.strip().encode(), sign(body, self._webhook_secret).encode()):
            raise WebhookError(f"bad signature in {SIGNATURE_HEADER} header (wrong webhook secret?)")
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise WebhookError(f"malformed JSON body: {exc}") from exc
        if not isinstance(event, dict) or event.get("object") != "Event":
            raise WebhookError("not an EasyPost Event object")
        description = str(event.get("description") or "")
        result = event.get("result")
        if not description.startswith("tracker.") or not isinstance(result, dict):
            raise WebhookError(f"not a tracker event: {description or 'no description'!r}")
        if result.get("object") != "Tracker":
            raise WebhookError("not a tracker event: its result is not a Tracker")
        if result.get("id") and result.get("tracking_code"):
            self._tracker_ids[str(result["tracking_code"])] = str(result["id"])
        return tracker_to_result(result, self.name).events


def easypost_address(address: Address) -> dict[str, str]:
    """Our Address in EasyPost's words (street1, state, zip); empty fields left out."""
    fields = {
        "name": address.name,
        "street1": address.line1,
        "street2": address.line2,
        "city": address.city,
        "state": address.region,
        "zip": address.postal_code,
        "country": address.country,
    }
    return {k: v for k, v in fields.items() if v}


def _object(resp: httpx.Response, expected: str) -> dict[str, Any]:
    """The JSON object of a successful answer, checked to be the EasyPost `object` we asked for."""
    try:
        body = resp.json()
    except ValueError as exc:
        raise CarrierError("EasyPost answered with a body that is not JSON", retryable=True) from exc
    if not isinstance(body, dict) or body.get("object") != expected:
        raise CarrierError(f"EasyPost answered with something that is not a {expected}", retryable=True)
    return body


def _label_of(shipment: Mapping[str, Any]) -> tuple[str, str] | None:
    """(label URL, tracking code) of a bought shipment, None while it has no postage label."""
    label = shipment.get("postage_label")
    url = label.get("label_url") if isinstance(label, Mapping) else None
    code = shipment.get("tracking_code")
    return (str(url), str(code)) if url and code else None


def _easypost_error(resp: httpx.Response) -> dict[str, Any] | None:
    """EasyPost's `error` object, None when the body is not EasyPost's (a proxy, a wrong URL)."""
    try:
        err = resp.json().get("error")
    except (ValueError, AttributeError):
        return None
    return err if isinstance(err, dict) else None


# In a return shipment we send the customer as `to_address` (EasyPost swaps them): name fields plainly.
RETURN_FIELD_NAMES = {"to_address": "customer address", "from_address": "merchant address"}


def _field(name: str) -> str:
    side, dot, rest = name.partition(".")
    return f"{RETURN_FIELD_NAMES[side]}{' ' + rest if dot else ''}" if side in RETURN_FIELD_NAMES else name


def _shipment_error(resp: httpx.Response, what: str) -> CarrierError:
    """A failed shipment call, with EasyPost's words and each field it named; retryable only for outages."""
    err = _easypost_error(resp)
    status = resp.status_code
    if err is None and status == 404:
        text = f"EasyPost API not found at {resp.request.url} (HTTP 404): check the EasyPost base URL"
        return CarrierError(text, retryable=False, status_code=status)
    err = err or {}
    parts = [": ".join(str(p) for p in (err.get("code"), err.get("message")) if p)]
    for field_error in err.get("errors") or []:
        if isinstance(field_error, Mapping) and "field" in field_error:
            parts.append(f"{_field(str(field_error['field']))} {field_error.get('message') or 'is invalid'}")
        elif isinstance(field_error, Mapping):  # EasyPost's older {"to_address": "Invalid format."}
            parts.extend(f"{_field(str(k))}: {v}" for k, v in field_error.items())
    said = f" ({'; '.join(p.rstrip('.') for p in parts if p)})" if any(parts) else ""
    if status in (401, 403):
        return CarrierError(f"EasyPost rejected the API key{said}", retryable=False, status_code=status)
    if status == 429:
        return CarrierError(f"EasyPost rate limit reached making {what}{said}", retryable=True, status_code=status)
    if status >= 500:
        text = f"EasyPost failed with HTTP {status} making {what}{said}"
        return CarrierError(text, retryable=True, status_code=status)
    return CarrierError(f"EasyPost refused {what} (HTTP {status}){said}", retryable=False, status_code=status)


def _http_error(resp: httpx.Response, tracking_number: str) -> CarrierError:
    """One CarrierError per HTTP failure, retryable only when asking again can help."""
    code = message = ""
    easypost_said = False
    try:
        err = resp.json().get("error")
        if isinstance(err, dict):
            easypost_said = True
            code, message = str(err.get("code") or ""), str(err.get("message") or "")
    except (ValueError, AttributeError):
        pass
    said = f" ({code}: {message})" if code or message else ""
    status = resp.status_code
    if status == 404 and not easypost_said:
        # not EasyPost's "no such tracker" but a wrong address: say so rather than blame the parcel
        text = f"EasyPost API not found at {resp.request.url} (HTTP 404): check the EasyPost base URL"
        return CarrierError(text, retryable=False, status_code=status)
    if status in (401, 403):
        text, retryable = f"EasyPost rejected the API key{said}", False
    elif status in (404, 422) or (status == 400 and "TRACKING_CODE" in code):
        text, retryable = f"EasyPost does not know tracking code {tracking_number!r}{said}", False
    elif status == 429:
        text, retryable = f"EasyPost rate limit reached{said}", True
    elif status >= 500:
        text, retryable = f"EasyPost failed with HTTP {status}{said}", True
    else:
        text, retryable = f"EasyPost refused the request with HTTP {status}{said}", False
    return CarrierError(text, retryable=retryable, status_code=status)

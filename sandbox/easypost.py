"""A stand-in for EasyPost's Tracker API and its webhooks, speaking EasyPost's JSON.

Real API (under `/easypost`): `POST /v2/trackers` (JSON `{"tracker": {...}}` or form
`tracker[tracking_code]=...`; an existing code returns its tracker, as EasyPost does),
`GET /v2/trackers` (`tracking_codes[]`, `tracking_code`, `carrier`), `GET /v2/trackers/{id}`; basic
auth with the API key as user name.

Return labels: `POST /v2/shipments` (JSON `{"shipment": {...}}`) with `carrier` and `service` buys the
label in the same call (EasyPost's one-call buy); `is_return: true` swaps the two addresses as
EasyPost does. Each shipment gets a tracker for its fresh tracking code (follow it with the scan
controls below) and a PNG label served by the sandbox at `GET /easypost/labels/{shp_id}.png`.
`GET /v2/shipments/{id}` also takes a shipment's `reference` in place of its id. Like EasyPost, a
repeated `reference` makes a second shipment: the connector looks the reference up before buying.
A missing street1, country or parcel weight is a 422 `SHIPMENT.INVALID_PARAMS` naming each field.

Sandbox controls (under `/_sandbox/easypost`), in EasyPost's own vocabulary:
- `POST trackers/{code}/scan`: append a scan; POST the signed `tracker.updated` Event to the webhook
  URL (first attempt before answering, retries with back-off in the background) unless
  `deliver_webhook` is false; `GET`/`DELETE trackers/{code}` to look at or forget a tracker;
- `POST trackers/{code}/script`: scans played in the background (`after_seconds` after the previous);
- `POST fail-next`: the next API calls answer 429/5xx (optionally late) as an outage would;
- `GET webhooks`: every delivery with its attempts; `webhook-sink` (+ `/fail-next`): a receiver of
  its own for when no Aftercare API listens.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import random
import re
import struct
import unicodedata
import uuid
import zlib
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from sandbox.state import DeliveryAttempt, SandboxState, SinkedWebhook, WebhookDelivery, iso, utcnow

STATUSES = (
    "unknown", "pre_transit", "in_transit", "out_for_delivery", "available_for_pickup",
    "delivered", "return_to_sender", "failure", "cancelled", "error",
)  # fmt: skip
DEFAULT_MESSAGES = {
    "unknown": "Status unknown",
    "pre_transit": "Shipping Label Created",
    "in_transit": "In Transit",
    "out_for_delivery": "Out for Delivery",
    "available_for_pickup": "Available for Pickup",
    "delivered": "Delivered",
    "return_to_sender": "Return to Sender",
    "failure": "Delivery Failure",
    "cancelled": "Cancelled",
    "error": "Carrier Error",
}
DEFAULT_DETAILS = {
    "pre_transit": "label_created",
    "out_for_delivery": "out_for_delivery",
    "delivered": "arrived_at_destination",
    "available_for_pickup": "arrived_at_pickup_location",
    "return_to_sender": "return",
}
TRACKING_CODE = re.compile(r"^[A-Za-z0-9-]{4,64}$")
# EasyPost's test-mode tracking codes, each a parcel already at that status
TEST_CODES = {
    "EZ1000000001": "pre_transit",
    "EZ2000000002": "in_transit",
    "EZ3000000003": "out_for_delivery",
    "EZ4000000004": "delivered",
    "EZ5000000005": "return_to_sender",
    "EZ6000000006": "failure",
    "EZ7000000007": "unknown",
}
JOURNEY = ["pre_transit", "in_transit", "out_for_delivery", "delivered"]


def sign(body: bytes, secret: str) -> str:
    """EasyPost's `X-Hmac-Signature`: HMAC-SHA256 of the raw body keyed by the NFKD-normalised secret."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def error(status: int, code: str, message: str, errors: list[dict[str, str]] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, "errors": errors or []}}, status_code=status)


class Scan(BaseModel):
    """One carrier scan in EasyPost's words (not ours: this is the carrier side)."""

    status: str
    status_detail: str | None = None
    message: str | None = None
    datetime: dt.datetime | None = None
    est_delivery_date: dt.datetime | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    zip: str | None = None
    carrier: str | None = None
    signed_by: str | None = None
    deliver_webhook: bool = True


class ScriptStep(Scan):
    after_seconds: float = Field(default=0, ge=0, description="wait this long after the previous step")


class Script(BaseModel):
    steps: list[ScriptStep] = Field(min_length=1)
    deliver_webhook: bool = True


class ApiFail(BaseModel):
    """The next EasyPost API calls answer this HTTP status (429, 500, 503...) instead of working."""

    status_code: int = Field(default=500, ge=400, le=599)
    count: int = Field(default=1, ge=1)
    delay_seconds: float = Field(default=0, ge=0, description="answer this late (to test timeouts)")


class SinkFail(BaseModel):
    count: int = Field(default=1, ge=0, description="answer 503 to this many next deliveries")


# --- the tracker store ------------------------------------------------------------------------


def new_tracker(state: SandboxState, code: str, carrier: str = "USPS") -> dict[str, Any]:
    now = iso(utcnow())
    tracker_id = "trk_" + uuid.uuid4().hex
    tracker: dict[str, Any] = {
        "id": tracker_id,
        "object": "Tracker",
        "mode": "test",
        "tracking_code": code,
        "status": "unknown",
        "status_detail": "unknown",
        "created_at": now,
        "updated_at": now,
        "signed_by": None,
        "weight": None,
        "est_delivery_date": None,
        "shipment_id": None,
        "carrier": carrier,
        "tracking_details": [],
        "carrier_detail": None,
        "finalized": False,
        "is_return": False,
        "public_url": f"{state.http_url}/_sandbox/easypost/trackers/{code}",
        "fees": [],
    }
    state.trackers[tracker_id] = tracker
    state.tracker_ids[code] = tracker_id
    if code in TEST_CODES:
        _seed_test_code(tracker, TEST_CODES[code])
    return tracker


def _seed_test_code(tracker: dict[str, Any], target: str) -> None:
    """Give an EasyPost test code the history its name promises, one scan a day, ending yesterday."""
    path = JOURNEY[: JOURNEY.index(target) + 1] if target in JOURNEY else ["pre_transit", "in_transit", target]
    start = utcnow() - dt.timedelta(days=len(path))
    for i, status in enumerate(path):
        apply_scan(tracker, Scan(status=status, datetime=start + dt.timedelta(days=i)))


def get_or_create(state: SandboxState, code: str, carrier: str | None = None) -> dict[str, Any]:
    tracker_id = state.tracker_ids.get(code)
    if tracker_id and tracker_id in state.trackers:
        return state.trackers[tracker_id]
    return new_tracker(state, code, carrier or "USPS")


def apply_scan(tracker: dict[str, Any], scan: Scan) -> dict[str, Any]:
    """Append one TrackingDetail and move the tracker's status with it; returns the detail."""
    when = scan.datetime or utcnow()
    carrier = scan.carrier or tracker["carrier"]
    detail = {
        "object": "TrackingDetail",
        "message": scan.message or DEFAULT_MESSAGES.get(scan.status, scan.status),
        "description": None,
        "status": scan.status,
        "status_detail": scan.status_detail or DEFAULT_DETAILS.get(scan.status, "status_update"),
        "datetime": iso(when),
        "source": carrier,
        "carrier_code": None,
        "tracking_location": {
            "object": "TrackingLocation",
            "city": scan.city,
            "state": scan.state,
            "country": scan.country,
            "zip": scan.zip,
        },
        "est_delivery_date": iso(scan.est_delivery_date) if scan.est_delivery_date else None,
    }
    details = tracker["tracking_details"]
    details.append(detail)
    details.sort(key=lambda d: d["datetime"])
    latest = details[-1]
    tracker["status"] = latest["status"]
    tracker["status_detail"] = latest["status_detail"]
    tracker["updated_at"] = iso(utcnow())
    tracker["carrier"] = carrier
    if scan.est_delivery_date:
        tracker["est_delivery_date"] = iso(scan.est_delivery_date)
    if scan.signed_by:
        tracker["signed_by"] = scan.signed_by
    tracker["finalized"] = tracker["status"] in ("delivered", "return_to_sender", "cancelled", "failure")
    return detail


# --- shipments (return labels) ----------------------------------------------------------------

# Services the sandbox sells per carrier (EasyPost's names); other carriers take any service.
SERVICES = {
    "USPS": ("GroundAdvantage", "Priority", "Express", "First", "ParcelSelect", "MediaMail", "LibraryMail"),
    "UPS": ("Ground", "3DaySelect", "2ndDayAir", "NextDayAir", "NextDayAirSaver"),
    "FedEx": ("FEDEX_GROUND", "FEDEX_2_DAY", "FEDEX_EXPRESS_SAVER", "PRIORITY_OVERNIGHT", "STANDARD_OVERNIGHT"),
}
ADDRESS_FIELDS = ("name", "company", "street1", "street2", "city", "state", "zip", "country", "phone", "email")


def shipment_errors(payload: dict[str, Any]) -> list[dict[str, str]]:
    """Every field EasyPost would refuse, in its `{"field", "message"}` style."""
    problems: list[dict[str, str]] = []
    for side in ("to_address", "from_address"):
        address = payload.get(side)
        if not isinstance(address, dict):
            problems.append({"field": side, "message": "must be present and an object"})
            continue
        for name in ("street1", "country"):
            if not str(address.get(name) or "").strip():
                problems.append({"field": f"{side}.{name}", "message": "must be present and a string"})
        country = str(address.get("country") or "")
        if country and not re.fullmatch(r"[A-Za-z]{2}", country):
            problems.append({"field": f"{side}.country", "message": "must be a 2-letter ISO country code"})
    parcel = payload.get("parcel")
    weight = parcel.get("weight") if isinstance(parcel, dict) else None
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
        problems.append({"field": "parcel.weight", "message": "must be a number of ounces greater than 0"})
    carrier, service = payload.get("carrier"), payload.get("service")
    if service and carrier in SERVICES and service not in SERVICES[str(carrier)]:
        offered = ", ".join(SERVICES[str(carrier)])
        problems.append(
            {"field": "service", "message": f"{service!r} is not a {carrier} service; use one of {offered}"}
        )
    return problems


def _address(raw: dict[str, Any]) -> dict[str, Any]:
    now = iso(utcnow())
    fields = {name: raw.get(name) for name in ADDRESS_FIELDS}
    fields["country"] = str(fields["country"]).upper()
    return {"id": "adr_" + uuid.uuid4().hex, "object": "Address", "mode": "test", **fields,
            "created_at": now, "updated_at": now}  # fmt: skip


def _tracking_code(carrier: str) -> str:
    rng = random.SystemRandom()
    digits = "".join(rng.choice("0123456789") for _ in range(18))
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
    return ("9434" + digits) if carrier == "USPS" else digits[:12]


def new_shipment(state: SandboxState, payload: dict[str, Any]) -> dict[str, Any]:
    """A Shipment as EasyPost stores it; bought at once (label, tracking code, tracker) when a service is given."""
    now = iso(utcnow())
    shipment_id = "shp_" + uuid.uuid4().hex
    is_return = bool(payload.get("is_return"))
    to_raw, from_raw = payload["to_address"], payload["from_address"]
    if is_return:  # EasyPost swaps them: the label goes back to where the parcel came from
        to_raw, from_raw = from_raw, to_raw
    carrier = str(payload.get("carrier") or "USPS")
    shipment: dict[str, Any] = {
        "id": shipment_id,
        "object": "Shipment",
        "mode": "test",
        "reference": payload.get("reference"),
        "status": "unknown",
        "is_return": is_return,
        "to_address": _address(to_raw),
        "from_address": _address(from_raw),
        "return_address": _address(from_raw),
        "buyer_address": _address(to_raw),
        "parcel": {
            "id": "prcl_" + uuid.uuid4().hex,
            "object": "Parcel",
            "weight": payload["parcel"]["weight"],
            "length": None,
            "width": None,
            "height": None,
            "predefined_package": None,
        },
        "options": payload.get("options") or {},
        "customs_info": None,
        "rates": [],
        "selected_rate": None,
        "postage_label": None,
        "tracking_code": None,
        "tracker": None,
        "fees": [],
        "messages": [],
        "created_at": now,
        "updated_at": now,
    }
    if payload.get("service"):  # one-call buy
        rate = {"id": "rate_" + uuid.uuid4().hex, "object": "Rate", "mode": "test", "carrier": carrier,
                "service": payload["service"], "rate": "7.58", "currency": "USD", "delivery_days": 3,
                "shipment_id": shipment_id}  # fmt: skip
        code = _tracking_code(carrier)
        tracker = new_tracker(state, code, carrier)
        tracker.update(shipment_id=shipment_id, is_return=is_return)
        shipment.update(
            rates=[rate],
            selected_rate=rate,
            tracking_code=code,
            tracker=tracker,
            postage_label={
                "id": "pl_" + uuid.uuid4().hex,
                "object": "PostageLabel",
                "label_date": now,
                "label_file_type": "image/png",
                "label_resolution": 50,
                "label_size": "4x6",
                "label_type": "default",
                "label_url": f"{state.http_url}/easypost/labels/{shipment_id}.png",
                "label_pdf_url": None,
                "label_zpl_url": None,
                "created_at": now,
                "updated_at": now,
            },
        )
    state.shipments[shipment_id] = shipment
    return shipment


def find_shipment(state: SandboxState, id_or_reference: str) -> dict[str, Any] | None:
    """By id, else the newest shipment with that reference (EasyPost takes references in place of ids)."""
    if id_or_reference in state.shipments:
        return state.shipments[id_or_reference]
    same = [s for s in state.shipments.values() if s.get("reference") == id_or_reference]
    return same[-1] if same else None


def label_png(tracking_code: str, width: int = 200, height: int = 300) -> bytes:
    """A 4x6 in label at 50 dpi: a frame and a barcode drawn from the tracking code (no fonts needed)."""
    bars = [bit == "1" for ch in tracking_code for bit in format(ord(ch), "08b")]
    bar_width = max(1, (width - 40) // max(1, len(bars)))
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # PNG filter type: none
        for x in range(width):
            frame = x < 4 or x >= width - 4 or y < 4 or y >= height - 4
            in_code = 190 <= y < 260 and 20 <= x < 20 + bar_width * len(bars)
            ink = frame or (in_code and bars[(x - 20) // bar_width]) or (y in (60, 120) and 10 < x < width - 10)
            rows.append(0 if ink else 255)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
    )


# --- webhooks ---------------------------------------------------------------------------------


def make_event(state: SandboxState, tracker: dict[str, Any], previous_status: str | None) -> dict[str, Any]:
    now = iso(utcnow())
    event = {
        "id": "evt_" + uuid.uuid4().hex,
        "object": "Event",
        "mode": "test",
        "description": "tracker.updated",
        "previous_attributes": {"status": previous_status} if previous_status != tracker["status"] else {},
        "result": json.loads(json.dumps(tracker)),  # a snapshot: later scans must not change it
        "status": "pending",
        "pending_urls": [state.webhook_url],
        "completed_urls": [],
        "created_at": now,
        "updated_at": now,
        "user_id": "user_sandbox",
    }
    state.events.append(event)
    return event


async def _attempt(state: SandboxState, client: httpx.AsyncClient, delivery: WebhookDelivery, body: bytes) -> bool:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "EasyPost WebHook Agent 1.0 (Aftercare sandbox)",
        "X-Hmac-Signature": sign(body, state.webhook_secret),
    }
    try:
        resp = await client.post(delivery.url, content=body, headers=headers, timeout=state.webhook_timeout)
    except httpx.HTTPError as exc:
        delivery.attempts.append(DeliveryAttempt(at=utcnow(), status_code=None, error=repr(exc)))
        return False
    ok = 200 <= resp.status_code < 300
    delivery.attempts.append(
        DeliveryAttempt(at=utcnow(), status_code=resp.status_code, error=None if ok else resp.text[:300])
    )
    delivery.delivered = ok
    return ok


async def deliver(state: SandboxState, client: httpx.AsyncClient, event: dict[str, Any]) -> WebhookDelivery:
    """First attempt now (the caller sees its outcome); retries with back-off in the background."""
    body = json.dumps(event).encode()
    delivery = WebhookDelivery(
        event_id=event["id"],
        description=event["description"],
        tracking_code=event["result"]["tracking_code"],
        url=state.webhook_url,
    )
    state.deliveries.append(delivery)
    if await _attempt(state, client, delivery, body):
        _complete(event)
        return delivery

    async def retry() -> None:
        for delay in state.webhook_retry_delays:
            await asyncio.sleep(delay)
            if await _attempt(state, client, delivery, body):
                _complete(event)
                return
        delivery.gave_up = True

    if state.webhook_retry_delays:
        state.spawn(retry())
    else:
        delivery.gave_up = True
    return delivery


def _complete(event: dict[str, Any]) -> None:
    event["status"] = "completed"
    event["completed_urls"], event["pending_urls"] = event["pending_urls"], []


async def scan_and_notify(state: SandboxState, client: httpx.AsyncClient, code: str, scan: Scan) -> dict[str, Any]:
    if scan.status not in STATUSES:
        raise ValueError(f"status {scan.status!r} is not an EasyPost status; use one of {', '.join(STATUSES)}")
    tracker = get_or_create(state, code, scan.carrier)
    previous = tracker["status"]
    detail = apply_scan(tracker, scan)
    answer: dict[str, Any] = {"tracker": tracker, "tracking_detail": detail, "event": None, "delivery": None}
    if scan.deliver_webhook:
        event = make_event(state, tracker, previous)
        delivery = await deliver(state, client, event)
        answer["event"] = {"id": event["id"], "description": event["description"]}
        answer["delivery"] = delivery.to_json()
    return answer


# --- routes -----------------------------------------------------------------------------------


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    async def auth_error(request: Request) -> JSONResponse | None:
        """Scripted failures first (they stand for EasyPost being down), then the API key check."""
        if state.easypost_fail_next:
            fail = state.easypost_fail_next[0]
            fail["count"] -= 1
            if fail["count"] <= 0:
                state.easypost_fail_next.pop(0)
            await asyncio.sleep(fail["delay_seconds"])
            status = fail["status_code"]
            names = {429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE"}
            return error(status, names.get(status, "INTERNAL_SERVER_ERROR"), "Sandbox failure requested by fail-next")
        key = _api_key(request)
        if not key:
            return error(401, "APIKEY.REQUIRED", "No API key provided: use HTTP basic auth with the key as user")
        if key not in state.easypost_api_keys:
            return error(401, "APIKEY.INACTIVE", "The API key provided is not valid")
        return None

    @router.post("/easypost/v2/trackers", tags=["easypost"])
    async def create_tracker(request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = (await request.json()).get("tracker") or {}
            except (ValueError, AttributeError):
                return error(400, "PARAMETER.INVALID", "The request body is not valid JSON")
        else:
            form = await request.form()
            payload = {k[8:-1]: v for k, v in form.items() if k.startswith("tracker[") and k.endswith("]")}
        code = str(payload.get("tracking_code") or "").strip()
        if not code:
            return error(422, "TRACKER.TRACKING_CODE.REQUIRED", "tracker[tracking_code] is required")
        if code not in state.tracker_ids and not TRACKING_CODE.match(code):
            return error(422, "TRACKER.TRACKING_CODE.INVALID", f"Invalid tracking code: {code!r}")
        existed = code in state.tracker_ids
        tracker = get_or_create(state, code, payload.get("carrier"))
        return JSONResponse(tracker, status_code=200 if existed else 201)

    @router.get("/easypost/v2/trackers", tags=["easypost"])
    async def list_trackers(request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        params = request.query_params
        codes = set(params.getlist("tracking_codes[]") + params.getlist("tracking_codes"))
        if params.get("tracking_code"):
            codes.add(params["tracking_code"])
        carrier = params.get("carrier")
        found = [
            t for t in state.trackers.values()
            if (not codes or t["tracking_code"] in codes) and (not carrier or t["carrier"] == carrier)
        ]  # fmt: skip
        found.sort(key=lambda t: t["created_at"], reverse=True)
        size = int(params.get("page_size", 20))
        return JSONResponse({"trackers": found[:size], "has_more": len(found) > size})

    @router.get("/easypost/v2/trackers/{tracker_id}", tags=["easypost"])
    async def retrieve_tracker(tracker_id: str, request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        tracker = state.trackers.get(tracker_id)
        if tracker is None:
            return error(404, "NOT_FOUND", f"The requested resource could not be found: {tracker_id}")
        return JSONResponse(tracker)

    @router.post("/easypost/v2/shipments", tags=["easypost"])
    async def create_shipment(request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return error(422, "SHIPMENT.INVALID_PARAMS", 'The request body must be JSON: {"shipment": {...}}')
        payload = body.get("shipment") if isinstance(body, dict) else None
        if not isinstance(payload, dict):
            return error(422, "SHIPMENT.INVALID_PARAMS", 'Missing the shipment object: {"shipment": {...}}')
        if problems := shipment_errors(payload):
            message = "Unable to create shipment, one or more parameters were invalid."
            return error(422, "SHIPMENT.INVALID_PARAMS", message, problems)
        return JSONResponse(new_shipment(state, payload), status_code=201)

    @router.get("/easypost/v2/shipments/{id_or_reference:path}", tags=["easypost"])
    async def retrieve_shipment(id_or_reference: str, request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        shipment = find_shipment(state, id_or_reference)
        if shipment is None:
            return error(404, "NOT_FOUND", f"The requested resource could not be found: {id_or_reference}")
        return JSONResponse(shipment)

    @router.get("/easypost/labels/{shipment_id}.png", tags=["easypost"])
    async def label(shipment_id: str) -> Response:
        """The label's image, public like EasyPost's label URLs (no API key needed to print it)."""
        shipment = state.shipments.get(shipment_id)
        if shipment is None or not shipment.get("tracking_code"):
            return error(404, "NOT_FOUND", f"no label for shipment {shipment_id!r}")
        return Response(label_png(shipment["tracking_code"]), media_type="image/png")

    # sandbox controls ---------------------------------------------------------------------------

    @router.get("/_sandbox/easypost/trackers/{code}", tags=["sandbox"])
    async def show_tracker(code: str) -> JSONResponse:
        tracker_id = state.tracker_ids.get(code)
        if tracker_id is None:
            return error(404, "NOT_FOUND", f"no tracker for {code!r}")
        return JSONResponse(state.trackers[tracker_id])

    @router.delete("/_sandbox/easypost/trackers/{code}", tags=["sandbox"])
    async def forget_tracker(code: str) -> JSONResponse:
        tracker_id = state.tracker_ids.pop(code, None)
        if tracker_id:
            state.trackers.pop(tracker_id, None)
        return JSONResponse({"forgotten": bool(tracker_id)})

    @router.post("/_sandbox/easypost/trackers/{code}/scan", tags=["sandbox"])
    async def scan(code: str, body: Scan) -> JSONResponse:
        try:
            return JSONResponse(await scan_and_notify(state, client, code, body))
        except ValueError as exc:
            return error(422, "SCAN.INVALID", str(exc))

    @router.post("/_sandbox/easypost/trackers/{code}/script", tags=["sandbox"], status_code=202)
    async def script(code: str, body: Script) -> JSONResponse:
        bad = [s.status for s in body.steps if s.status not in STATUSES]
        if bad:
            return error(422, "SCRIPT.INVALID", f"not EasyPost statuses: {', '.join(bad)}")
        script_id = "script_" + uuid.uuid4().hex[:12]
        record: dict[str, Any] = {
            "id": script_id, "tracking_code": code, "steps": len(body.steps), "played": 0, "done": False,
        }  # fmt: skip
        state.scripts[script_id] = record

        async def play() -> None:
            for step in body.steps:
                await asyncio.sleep(step.after_seconds)
                scan = Scan(
                    **step.model_dump(exclude={"after_seconds", "deliver_webhook"}),
                    deliver_webhook=body.deliver_webhook and step.deliver_webhook,
                )
                await scan_and_notify(state, client, code, scan)
                record["played"] += 1
            record["done"] = True

        state.spawn(play())
        return JSONResponse(record, status_code=202)

    @router.post("/_sandbox/easypost/fail-next", tags=["sandbox"])
    async def api_fail_next(body: ApiFail) -> JSONResponse:
        state.easypost_fail_next.append(body.model_dump())
        return JSONResponse({"queued": state.easypost_fail_next})

    @router.get("/_sandbox/easypost/scripts", tags=["sandbox"])
    async def scripts() -> JSONResponse:
        return JSONResponse(list(state.scripts.values()))

    @router.get("/_sandbox/easypost/webhooks", tags=["sandbox"])
    async def deliveries() -> JSONResponse:
        return JSONResponse([d.to_json() for d in state.deliveries])

    @router.post("/_sandbox/easypost/webhook-sink", tags=["sandbox"])
    async def sink(request: Request) -> JSONResponse:
        """A receiver to point `--webhook-url` at when no Aftercare API runs; can be told to fail."""
        body = await request.body()
        state.webhook_sink.append(SinkedWebhook(utcnow(), dict(request.headers), body))
        if state.sink_fail_next > 0:
            state.sink_fail_next -= 1
            return JSONResponse({"error": "sandbox sink told to fail"}, status_code=503)
        return JSONResponse({"received": True})

    @router.get("/_sandbox/easypost/webhook-sink", tags=["sandbox"])
    async def sink_list() -> JSONResponse:
        return JSONResponse([w.to_json() for w in state.webhook_sink])

    @router.post("/_sandbox/easypost/webhook-sink/fail-next", tags=["sandbox"])
    async def sink_fail(body: SinkFail) -> JSONResponse:
        state.sink_fail_next = body.count
        return JSONResponse({"fail_next": body.count})

    return router

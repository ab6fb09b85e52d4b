"""A stand-in for AfterShip's Tracking API (v4) and its webhooks, speaking AfterShip's JSON.

Real API (under `/aftership`): `POST /v4/trackings` (`{"tracking": {"slug", "tracking_number"}}`; 201, or 400
with meta 4003 "Tracking already exists." and the existing tracking's id and slug), `GET
/v4/trackings/{slug}/{tracking_number}` (404 meta 4004 when unknown). The API key goes in `as-api-key` (or the
older `aftership-api-key`); every answer is AfterShip's envelope `{"meta": {"code", "message", "type"}, "data"}`.
A tracking created without a slug is detected as UPS for `1Z...` numbers; otherwise 4012, as AfterShip does when
it cannot detect the courier.

Sandbox controls (under `/_sandbox/aftership`):
- `POST trackings/{slug}/{number}/checkpoint`: append a checkpoint (tag, subtag, message, place, time; an EDD
  for the tracking) and push the signed `tracking_update` webhook (unless `deliver_webhook` is false),
  creating the tracking if needed; `GET trackings/{slug}/{number}` shows it;
- `POST fail-next`: the next API calls answer 429 (with `Retry-After`) or 5xx, optionally late;
- `GET webhooks`: every push with its attempts.
Pushes go to `SandboxState.push_url("aftership")`, signed `aftership-hmac-sha256` (base64 HMAC-SHA256 of the raw
body with `aftership_webhook_secret`), retried in the background (`sandbox.pushes`) like the other stand-ins'.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox import pushes
from sandbox.fail_next import next_failure, queue_failure
from sandbox.state import SandboxState, WebhookDelivery, utcnow

META_TYPES = {400: "BadRequest", 401: "Unauthorized", 404: "NotFound", 429: "TooManyRequests"}
SUBTAG_MESSAGES = {
    "Pending_001": "Pending",
    "InfoReceived_001": "Info Received",
    "InTransit_001": "In Transit",
    "InTransit_002": "Acceptance scan",
    "InTransit_007": "Departure Scan",
    "OutForDelivery_001": "Out for Delivery",
    "AttemptFail_001": "Failed Attempt",
    "AvailableForPickup_001": "Available for pickup",
    "Delivered_001": "Delivered",
    "Exception_004": "Delayed (Customs clearance)",
    "Exception_011": "Returned to sender",
    "Exception_013": "Shipment lost",
    "Expired_001": "Expired",
}


class Checkpoint(BaseModel):
    tag: str = Field(min_length=1, max_length=40)
    subtag: str | None = Field(default=None, max_length=40)
    message: str = Field(default="", max_length=500)
    city: str | None = None
    state: str | None = None
    country_iso3: str | None = None
    country_name: str | None = None
    zip: str | None = None
    checkpoint_time: str | None = Field(default=None, description="ISO 8601; default now (UTC)")
    expected_delivery: str | None = Field(default=None, description="sets the tracking's expected_delivery")
    event: str = "tracking_update"
    deliver_webhook: bool = True


class ApiFail(BaseModel):
    status_code: int = Field(default=429, ge=400, le=599)
    count: int = Field(default=1, ge=1, le=100)
    retry_after: int | None = Field(default=1, ge=0, le=3600, description="Retry-After seconds on a 429")
    delay_seconds: float = Field(default=0.0, ge=0, le=60)


def sign(body: bytes, secret: str) -> str:
    """AfterShip's `aftership-hmac-sha256`: base64 HMAC-SHA256 of the raw body, key = the secret as UTF-8."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def _answer(code: int, data: Any, status: int | None = None, message: str = "", headers: Any = None) -> JSONResponse:
    meta: dict[str, Any] = {"code": code}
    if message:
        meta |= {"message": message, "type": META_TYPES.get(status or code, "InternalError")}
    return JSONResponse({"meta": meta, "data": data}, status_code=status or code, headers=headers)


def new_tracking(slug: str, number: str) -> dict[str, Any]:
    now = _iso(utcnow())
    return {
        "id": uuid.uuid4().hex, "created_at": now, "updated_at": now, "last_updated_at": now,
        "tracking_number": number, "slug": slug, "active": True, "android": [], "custom_fields": None,
        "customer_name": None, "delivery_time": 0, "destination_country_iso3": None,
        "courier_destination_country_iso3": None, "emails": [], "expected_delivery": None, "ios": [],
        "note": None, "order_id": None, "order_id_path": None, "order_date": None, "origin_country_iso3": None,
        "shipment_package_count": None, "shipment_pickup_date": None, "shipment_delivery_date": None,
        "shipment_type": None, "shipment_weight": None, "shipment_weight_unit": None, "signed_by": None,
        "smses": [], "source": "api", "tag": "Pending", "subtag": "Pending_001", "subtag_message": "Pending",
        "title": number, "tracked_count": 0, "last_mile_tracking_supported": None, "language": None,
        "unique_token": "deprecated", "checkpoints": [], "subscribed_smses": [], "subscribed_emails": [],
        "return_to_sender": False, "order_promised_delivery_date": None, "delivery_type": None,
        "pickup_location": None, "pickup_note": None, "courier_tracking_link": None, "first_attempted_at": None,
        "courier_redirect_link": None, "tracking_account_number": None, "tracking_origin_country": None,
        "tracking_destination_country": None, "tracking_key": None, "tracking_postal_code": None,
        "tracking_ship_date": None, "tracking_state": None, "aftership_estimated_delivery_date": None,
        "courier_estimated_delivery_date": None,
    }  # fmt: skip


def add_checkpoint(state: SandboxState, slug: str, number: str, body: Checkpoint) -> dict[str, Any]:
    tracking = state.aftership_trackings.setdefault(f"{slug}/{number}", new_tracking(slug, number))
    subtag = body.subtag or f"{body.tag}_001"
    message = body.message or SUBTAG_MESSAGES.get(subtag, body.tag)
    checkpoint: dict[str, Any] = {
        "slug": slug, "city": body.city, "created_at": _iso(utcnow()), "location": None,
        "country_name": body.country_name, "message": message, "country_iso3": body.country_iso3,
        "tag": body.tag, "subtag": subtag, "subtag_message": SUBTAG_MESSAGES.get(subtag, body.tag),
        "checkpoint_time": body.checkpoint_time or _iso(utcnow()), "coordinates": [], "state": body.state,
        "zip": body.zip, "raw_tag": None,
    }  # fmt: skip
    tracking["checkpoints"].append(checkpoint)
    tracking.update(tag=body.tag, subtag=subtag, subtag_message=checkpoint["subtag_message"])
    tracking["updated_at"] = tracking["last_updated_at"] = _iso(utcnow())
    if body.expected_delivery is not None:
        tracking["expected_delivery"] = body.expected_delivery
    if body.tag == "Delivered":
        tracking["shipment_delivery_date"], tracking["active"] = checkpoint["checkpoint_time"], False
    return tracking


async def push(state: SandboxState, client: httpx.AsyncClient, tracking: dict[str, Any], event: str) -> WebhookDelivery:
    """The webhook AfterShip sends: first attempt now, retries with back-off in the background."""
    event_id = str(uuid.uuid4())
    payload = {
        "event_id": event_id,
        "event": event,
        "is_tracking_first_tag": True,
        "msg": tracking,
        "ts": int(utcnow().timestamp()),
    }
    body = json.dumps(payload).encode()
    headers = {
        "User-Agent": "AfterShipTrackingWebhook/4.0.0 (Aftercare sandbox)",
        "aftership-hmac-sha256": sign(body, state.aftership_webhook_secret),
    }
    return await pushes.push(
        state, client, "aftership", event_id=event_id, description=event,
        tracking_code=tracking["tracking_number"], body=body, headers=headers,
    )  # fmt: skip


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    async def refused(request: Request) -> JSONResponse | None:
        """Scripted failures first (AfterShip being down or rate limiting), then the API key."""
        if (fail := await next_failure(state.aftership_fail_next)) is not None:
            status = fail["status_code"]
            headers = (
                {"Retry-After": str(fail["retry_after"])} if status == 429 and fail["retry_after"] is not None else None
            )
            text = (
                "You have exceeded the API call rate limit."
                if status == 429
                else "Something went wrong on AfterShip's end."
            )
            return _answer(status, {}, status, text, headers)
        key = request.headers.get("as-api-key") or request.headers.get("aftership-api-key")
        if key not in state.aftership_api_keys:
            return _answer(401, {}, 401, "Invalid API key.")
        return None

    @router.post("/aftership/v4/trackings", tags=["aftership"])
    async def create(request: Request) -> JSONResponse:
        if (denied := await refused(request)) is not None:
            return denied
        try:
            given = (await request.json()).get("tracking")
        except (ValueError, AttributeError):
            return _answer(4001, {}, 400, "Invalid JSON data.")
        if not isinstance(given, dict):
            return _answer(4006, {}, 400, "`tracking` object is required.")
        number = str(given.get("tracking_number") or "").strip()
        if not number:
            return _answer(4007, {}, 400, "`tracking_number` is required.")
        slug = str(given.get("slug") or ("ups" if number.upper().startswith("1Z") else "")).strip()
        if not slug:
            return _answer(
                4012, {}, 400, "Unable to import shipment as we don't recognize the carrier from this tracking number."
            )
        existing = state.aftership_trackings.get(f"{slug}/{number}")
        if existing is not None:
            data = {"tracking": {"id": existing["id"], "slug": slug, "tracking_number": number}}
            return _answer(4003, data, 400, "Tracking already exists.")
        tracking = state.aftership_trackings.setdefault(f"{slug}/{number}", new_tracking(slug, number))
        return _answer(201, {"tracking": tracking})

    @router.get("/aftership/v4/trackings/{slug}/{number}", tags=["aftership"])
    async def get(slug: str, number: str, request: Request) -> JSONResponse:
        if (denied := await refused(request)) is not None:
            return denied
        tracking = state.aftership_trackings.get(f"{slug}/{number}")
        if tracking is None:
            return _answer(4004, {}, 404, "Tracking does not exist.")
        tracking["tracked_count"] += 1
        return _answer(200, {"tracking": tracking})

    # sandbox controls ---------------------------------------------------------------------------

    @router.post("/_sandbox/aftership/trackings/{slug}/{number}/checkpoint", tags=["sandbox"])
    async def checkpoint(slug: str, number: str, body: Checkpoint) -> JSONResponse:
        tracking = add_checkpoint(state, slug, number, body)
        delivery = await push(state, client, tracking, body.event) if body.deliver_webhook else None
        return JSONResponse({"tracking": tracking, "webhook": delivery.to_json() if delivery else None})

    @router.get("/_sandbox/aftership/trackings/{slug}/{number}", tags=["sandbox"])
    async def show(slug: str, number: str) -> JSONResponse:
        tracking = state.aftership_trackings.get(f"{slug}/{number}")
        if tracking is None:
            return JSONResponse({"error": f"no tracking {slug}/{number}"}, status_code=404)
        return JSONResponse(tracking)

    @router.post("/_sandbox/aftership/fail-next", tags=["sandbox"])
    async def fail_next(body: ApiFail) -> JSONResponse:
        return queue_failure(state.aftership_fail_next, body)

    @router.get("/_sandbox/aftership/webhooks", tags=["sandbox"])
    async def webhooks() -> JSONResponse:
        url = state.push_url("aftership")
        return JSONResponse([d.to_json() for d in state.deliveries if d.url == url])

    return router

"""A stand-in for Shippo's Tracking API and its `track_updated` webhooks, speaking Shippo's JSON.

Real API (under `/shippo`, auth `Authorization: ShippoToken <key>`):
- `POST /tracks/` (JSON or form: `carrier`, `tracking_number`, `metadata`) registers the parcel for pushes and
  answers its Track; `GET /tracks/{carrier}/{tracking_number}` answers it again (a parcel nobody scanned yet
  is a Track with status `UNKNOWN` and no history, as Shippo answers for a number it has no data for).
- Refusals as Shippo words them: `{"detail": "..."}` with 401 (token) or 429 (`Retry-After`).

Controls (under `/_sandbox/shippo`):
- `POST tracks/{carrier}/{number}/scan`: append a scan (Shippo's `status`, `substatus`, `status_details`...) and
  push the signed `track_updated` to `state.push_url("shippo")` unless `deliver_webhook` is false;
- `GET tracks/{carrier}/{number}`: the Track as held; `POST fail-next`: the next API calls answer 429/5xx.

Pushes are signed as Shippo's HMAC option signs them: `Shippo-Auth-Signature: t=<unix>,v1=<hex HMAC-SHA256
of "<t>." + body>` keyed by `state.shippo_webhook_secret`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.fail_next import ProviderFail, next_failure, queue_failure
from sandbox.pushes import push
from sandbox.state import SandboxState, iso, utcnow

STATUSES = ("PRE_TRANSIT", "TRANSIT", "DELIVERED", "RETURNED", "FAILURE", "UNKNOWN")
TOKEN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
NUMBER = re.compile(r"^[A-Za-z0-9_-]{4,64}$")


class ShippoScan(BaseModel):
    """One scan in Shippo's words (the carrier side, not ours)."""

    status: str = Field(description="PRE_TRANSIT, TRANSIT, DELIVERED, RETURNED, FAILURE or UNKNOWN")
    substatus: str | None = Field(default=None, description="Shippo's substatus code, e.g. out_for_delivery")
    substatus_text: str | None = None
    action_required: bool = False
    status_details: str = ""
    status_date: dt.datetime | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None
    country: str | None = None
    eta: dt.datetime | None = None
    deliver_webhook: bool = True


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """Shippo's `Shippo-Auth-Signature` for `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={hmac.new(secret.encode(), f'{t}.'.encode() + body, hashlib.sha256).hexdigest()}"


def new_track(carrier: str, number: str, metadata: str | None = None) -> dict[str, Any]:
    return {
        "carrier": carrier,
        "tracking_number": number,
        "address_from": None,
        "address_to": None,
        "eta": None,
        "original_eta": None,
        "servicelevel": {"token": None, "name": None},
        "metadata": metadata,
        "messages": [],
        "test": True,
        "transaction": None,
        "tracking_status": None,
        "tracking_history": [],
    }


def _unknown_track(carrier: str, number: str) -> dict[str, Any]:
    track = new_track(carrier, number)
    now = iso(utcnow())
    track["tracking_status"] = {
        "object_id": None, "object_created": now, "object_updated": now, "status": "UNKNOWN",
        "status_details": "The carrier has not provided any tracking information yet.",
        "status_date": None, "substatus": None, "location": None,
    }  # fmt: skip
    return track


def apply_scan(track: dict[str, Any], scan: ShippoScan) -> dict[str, Any]:
    """Append one TrackingStatus to the history (oldest first) and make the latest the `tracking_status`."""
    now = iso(utcnow())
    location = {k: getattr(scan, k) for k in ("city", "state", "zip", "country")}
    entry = {
        "object_id": uuid.uuid4().hex,
        "object_created": now,
        "object_updated": now,
        "status": scan.status,
        "status_details": scan.status_details,
        "status_date": iso(scan.status_date or utcnow()),
        "substatus": (
            {"code": scan.substatus, "text": scan.substatus_text or scan.substatus.replace("_", " ").capitalize(),
             "action_required": scan.action_required}
            if scan.substatus else None
        ),
        "location": location if any(location.values()) else None,
    }  # fmt: skip
    history = track["tracking_history"]
    history.append(entry)
    history.sort(key=lambda e: e["status_date"])
    track["tracking_status"] = history[-1]
    if scan.eta is not None:
        track["original_eta"] = track["original_eta"] or iso(scan.eta)
        track["eta"] = iso(scan.eta)
    return entry


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    def refuse(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"detail": detail}, status_code=status, headers=headers)

    async def denied(request: Request) -> JSONResponse | None:
        """Scripted failures first (Shippo being down or throttling), then the token check."""
        if (fail := await next_failure(state.shippo_fail_next)) is not None:
            wait = fail["retry_after"]
            headers = {"Retry-After": str(wait)} if wait is not None else None
            if fail["status_code"] == 429:
                return refuse(429, f"Request was throttled. Expected available in {wait or 1} seconds.", headers)
            return refuse(fail["status_code"], "Sandbox failure requested by fail-next", headers)
        header = request.headers.get("authorization", "")
        if not header:
            return refuse(401, "Authentication credentials were not provided.")
        scheme, _, key = header.partition(" ")
        if scheme != "ShippoToken" or key.strip() not in state.shippo_api_keys:
            return refuse(401, "Token does not exist")
        return None

    @router.post("/shippo/tracks/", tags=["shippo"])
    async def register(request: Request) -> JSONResponse:
        if (refused := await denied(request)) is not None:
            return refused
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = await request.json()
            except ValueError:
                return refuse(400, "JSON parse error")
        else:
            payload = dict(await request.form())
        if not isinstance(payload, dict):
            return refuse(400, "Expected a JSON object")
        carrier, number = str(payload.get("carrier") or ""), str(payload.get("tracking_number") or "")
        problems = {}
        if not TOKEN.match(carrier):
            problems["carrier"] = [
                f'"{carrier}" is not a valid carrier token.' if carrier else "This field is required."
            ]
        if not NUMBER.match(number):
            problems["tracking_number"] = ["This field is required." if not number else "Invalid tracking number."]
        if problems:
            return JSONResponse(problems, status_code=400)
        key = f"{carrier}/{number}"
        track = state.shippo_tracks.setdefault(key, new_track(carrier, number, payload.get("metadata")))
        return JSONResponse(
            track if track["tracking_history"] else _unknown_track(carrier, number) | {"metadata": track["metadata"]}
        )

    @router.get("/shippo/tracks/{carrier}/{number}", tags=["shippo"])
    async def get_track(carrier: str, number: str, request: Request) -> JSONResponse:
        if (refused := await denied(request)) is not None:
            return refused
        track = state.shippo_tracks.get(f"{carrier}/{number}")
        if track is None or not track["tracking_history"]:
            return JSONResponse(_unknown_track(carrier, number))
        return JSONResponse(track)

    # sandbox controls ---------------------------------------------------------------------------

    @router.post("/_sandbox/shippo/tracks/{carrier}/{number}/scan", tags=["sandbox"])
    async def scan(carrier: str, number: str, body: ShippoScan) -> JSONResponse:
        if body.status not in STATUSES:
            return JSONResponse({"detail": f"status must be one of {', '.join(STATUSES)}"}, status_code=422)
        track = state.shippo_tracks.setdefault(f"{carrier}/{number}", new_track(carrier, number))
        entry = apply_scan(track, body)
        answer: dict[str, Any] = {"track": track, "tracking_status": entry, "delivery": None}
        if body.deliver_webhook:
            raw = json.dumps({"event": "track_updated", "test": True, "data": track}).encode()
            delivery = await push(
                state, client, "shippo", event_id=entry["object_id"], description="track_updated",
                tracking_code=number, body=raw,
                headers={"Shippo-Auth-Signature": sign(raw, state.shippo_webhook_secret)},
            )  # fmt: skip
            answer["delivery"] = delivery.to_json()
        return JSONResponse(answer)

    @router.get("/_sandbox/shippo/tracks/{carrier}/{number}", tags=["sandbox"])
    async def show(carrier: str, number: str) -> JSONResponse:
        track = state.shippo_tracks.get(f"{carrier}/{number}")
        return JSONResponse(track) if track else refuse(404, f"no track for {carrier}/{number}")

    @router.post("/_sandbox/shippo/fail-next", tags=["sandbox"])
    async def fail_next(body: ProviderFail) -> JSONResponse:
        return queue_failure(state.shippo_fail_next, body)

    return router

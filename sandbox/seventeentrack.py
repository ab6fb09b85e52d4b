"""A stand-in for 17TRACK's Tracking API v2.2 and its webhook pushes, speaking 17TRACK's JSON.

Real API (under `/17track`, header `17token: <key>`): `POST /track/v2.2/register` and `POST
/track/v2.2/gettrackinfo`, each a JSON list of `{"number", "carrier"?}` (at most 40), answering
`{"code": 0, "data": {"accepted": [...], "rejected": [...]}}`: registering twice is rejected with
-18019901, asking about an unregistered number with -18019902. A wrong key is HTTP 401 with code -18010002.

Controls (under `/_sandbox/17track`):
- `POST tracks/{number}/scan`: append a scan in 17TRACK's words (`sub_status`, `description`, `time_iso`...;
  the parcel counts as registered) and push the signed `TRACKING_UPDATED` to `state.push_url("17track")`
  unless `deliver_webhook` is false; `GET tracks/{number}`; `POST fail-next`: the next calls answer 429/5xx.

Pushes carry 17TRACK's `sign` header: hex SHA-256 of the body + "/" + `state.seventeentrack_webhook_secret`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.fail_next import ProviderFail, next_failure, queue_failure
from sandbox.pushes import push
from sandbox.state import SandboxState, iso, utcnow

PROVIDERS = {100002: "UPS", 100003: "FedEx", 21051: "USPS", 100001: "DHL", 7041: "DHL Paket", 100005: "GLS"}
STAGES = {
    "InfoReceived": "InfoReceived", "InTransit_PickedUp": "PickedUp", "InTransit_Departure": "Departure",
    "InTransit_Arrival": "Arrival", "AvailableForPickup_Other": "AvailableForPickup",
    "OutForDelivery_Other": "OutForDelivery", "Delivered_Other": "Delivered", "Exception_Returning": "Returning",
    "Exception_Returned": "Returned",
}  # fmt: skip


class SeventeenScan(BaseModel):
    """One scan in 17TRACK's words (the carrier side, not ours)."""

    sub_status: str = Field(description="17TRACK's sub_status, e.g. InTransit_PickedUp, Delivered_Other")
    description: str = ""
    time_iso: dt.datetime | None = None
    location: str | None = None
    city: str | None = None
    state: str | None = None
    country: str | None = None
    postal_code: str | None = None
    carrier: int = Field(default=100002, description="17TRACK's carrier key (UPS 100002)")
    estimated_delivery_from: dt.datetime | None = None
    estimated_delivery_to: dt.datetime | None = None
    deliver_webhook: bool = True


def sign(body: bytes, key: str) -> str:
    """17TRACK's `sign` header for `body`."""
    return hashlib.sha256(body + b"/" + key.encode()).hexdigest()


def _status_of(sub_status: str) -> str:
    return sub_status.split("_", 1)[0]


def new_parcel(number: str, carrier: int) -> dict[str, Any]:
    name = PROVIDERS.get(carrier, "Carrier")
    return {
        "number": number,
        "carrier": carrier,
        "param": None,
        "tag": "",
        "track_info": {
            "shipping_info": {"shipper_address": {"country": None}, "recipient_address": {"country": None}},
            "latest_status": {"status": "NotFound", "sub_status": "NotFound_Other", "sub_status_descr": None},
            "latest_event": None,
            "time_metrics": {
                "days_after_order": 0, "days_of_transit": 0, "days_of_transit_done": 0, "days_after_last_update": 0,
                "estimated_delivery_date": {"source": None, "from": None, "to": None},
            },
            "milestone": [],
            "misc_info": {"risk_factor": 0, "service_type": None},
            "tracking": {
                "providers_hash": 0,
                "providers": [{
                    "provider": {"key": carrier, "name": name, "alias": name, "tel": None, "homepage": None,
                                 "country": ""},
                    "service_type": None, "latest_sync_status": "Success", "latest_sync_time": iso(utcnow()),
                    "events_hash": 0, "events": [],
                }],
            },
        },
    }  # fmt: skip


def apply_scan(parcel: dict[str, Any], scan: SeventeenScan) -> dict[str, Any]:
    """Add one event (17TRACK lists them newest first) and move `latest_status` / `latest_event` with it."""
    when = scan.time_iso or utcnow()
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    address = {"country": scan.country, "state": scan.state, "city": scan.city, "street": None,
               "postal_code": scan.postal_code, "coordinates": {"longitude": None, "latitude": None}}  # fmt: skip
    place = scan.location or ", ".join(p for p in (scan.city, scan.state, scan.country) if p) or None
    event = {
        "time_iso": when.isoformat(timespec="seconds"),
        "time_utc": iso(when),
        "time_raw": {"date": when.date().isoformat(), "time": when.time().isoformat("seconds"), "timezone": None},
        "description": scan.description,
        "description_translation": None,
        "location": place,
        "stage": STAGES.get(scan.sub_status),
        "sub_status": scan.sub_status,
        "address": address,
    }
    info = parcel["track_info"]
    provider = info["tracking"]["providers"][0]
    provider["events"].append(event)
    provider["events"].sort(key=lambda e: e["time_utc"], reverse=True)
    provider["events_hash"] = zlib.crc32(json.dumps(provider["events"]).encode()) & 0x7FFFFFFF
    latest = provider["events"][0]
    info["latest_event"] = latest
    info["latest_status"] = {"status": _status_of(latest["sub_status"]), "sub_status": latest["sub_status"],
                             "sub_status_descr": None}  # fmt: skip
    window = info["time_metrics"]["estimated_delivery_date"]
    if scan.estimated_delivery_from or scan.estimated_delivery_to:
        window["source"] = "Official"
        window["from"] = scan.estimated_delivery_from.isoformat() if scan.estimated_delivery_from else None
        window["to"] = scan.estimated_delivery_to.isoformat() if scan.estimated_delivery_to else None
    return event


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    async def denied(request: Request) -> JSONResponse | None:
        if (fail := await next_failure(state.seventeentrack_fail_next)) is not None:
            wait = fail["retry_after"]
            headers = {"Retry-After": str(wait)} if wait is not None else None
            message = "Too many requests." if fail["status_code"] == 429 else "Sandbox failure requested by fail-next"
            body = {
                "code": -fail["status_code"],
                "data": {"errors": [{"code": -fail["status_code"], "message": message}]},
            }
            return JSONResponse(body, status_code=fail["status_code"], headers=headers)
        if request.headers.get("17token", "") not in state.seventeentrack_api_keys:
            error = {"code": -18010002, "message": "The security key is invalid."}
            return JSONResponse({"code": -18010002, "data": {"errors": [error]}}, status_code=401)
        return None

    async def items(request: Request) -> list[dict[str, Any]] | JSONResponse:
        """The parcels a call asks about, or the answer 17TRACK gives first (a scripted failure, a bad key, a body
        that is not its list)."""
        if (refused := await denied(request)) is not None:
            return refused
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, list) or not 1 <= len(body) <= 40 or not all(isinstance(i, dict) for i in body):
            error = {"code": -18010012, "message": "The request body must be a JSON list of 1 to 40 objects."}
            return JSONResponse({"code": -18010012, "data": {"errors": [error]}}, status_code=400)
        return body

    def rejected(number: str, code: int, message: str) -> dict[str, Any]:
        return {"number": number, "error": {"code": code, "message": message}}

    def answer(accepted: list[dict[str, Any]], refused: list[dict[str, Any]]) -> JSONResponse:
        return JSONResponse({"code": 0, "data": {"accepted": accepted, "rejected": refused}})

    @router.post("/17track/track/v2.2/register", tags=["17track"])
    async def register(request: Request) -> JSONResponse:
        if isinstance(asked := await items(request), JSONResponse):
            return asked
        accepted, refused_items = [], []
        for item in asked:
            number = str(item.get("number") or "")
            if number in state.seventeentrack_tracks:
                msg = f"The tracking number '{number}' has been registered, don't need to repeat registration."
                refused_items.append(rejected(number, -18019901, msg))
                continue
            carrier = int(item.get("carrier") or 100002)
            state.seventeentrack_tracks[number] = new_parcel(number, carrier)
            accepted.append({"origin": 1, "number": number, "carrier": carrier})
        return answer(accepted, refused_items)

    @router.post("/17track/track/v2.2/gettrackinfo", tags=["17track"])
    async def gettrackinfo(request: Request) -> JSONResponse:
        if isinstance(asked := await items(request), JSONResponse):
            return asked
        accepted, refused_items = [], []
        for item in asked:
            number = str(item.get("number") or "")
            parcel = state.seventeentrack_tracks.get(number)
            if parcel is None:
                msg = f"The tracking number '{number}' does not register, please register first."
                refused_items.append(rejected(number, -18019902, msg))
            else:
                accepted.append(parcel)
        return answer(accepted, refused_items)

    # sandbox controls ---------------------------------------------------------------------------

    @router.post("/_sandbox/17track/tracks/{number}/scan", tags=["sandbox"])
    async def scan(number: str, body: SeventeenScan) -> JSONResponse:
        parcel = state.seventeentrack_tracks.setdefault(number, new_parcel(number, body.carrier))
        event = apply_scan(parcel, body)
        answer: dict[str, Any] = {"parcel": parcel, "event": event, "delivery": None}
        if body.deliver_webhook:
            raw = json.dumps({"event": "TRACKING_UPDATED", "data": parcel}).encode()
            delivery = await push(
                state, client, "17track", event_id=f"{number}@{event['time_utc']}", description="TRACKING_UPDATED",
                tracking_code=number, body=raw, headers={"sign": sign(raw, state.seventeentrack_webhook_secret)},
            )  # fmt: skip
            answer["delivery"] = delivery.to_json()
        return JSONResponse(answer)

    @router.get("/_sandbox/17track/tracks/{number}", tags=["sandbox"])
    async def show(number: str) -> JSONResponse:
        parcel = state.seventeentrack_tracks.get(number)
        return JSONResponse(parcel) if parcel else JSONResponse({"detail": f"no parcel {number}"}, status_code=404)

    @router.post("/_sandbox/17track/fail-next", tags=["sandbox"])
    async def fail_next(body: ProviderFail) -> JSONResponse:
        return queue_failure(state.seventeentrack_fail_next, body)

    return router

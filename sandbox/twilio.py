"""A stand-in for Twilio's Messages API (SMS and WhatsApp), speaking Twilio's JSON and error codes.

`POST /twilio/2010-04-01/Accounts/{sid}/Messages.json` (form `To`, `From` or `MessagingServiceSid`,
`Body`), `GET` the same path to list (newest first, `To`/`From`/`PageSize` filters) and
`GET .../Messages/{MessageSid}.json`. Each accepted message gets status callbacks (`sandbox.delivery_callbacks`)
to its `StatusCallback`, else to the API's `/v1/providers/twilio/events`, signed with the token it was sent
with. Basic auth: user name = the Account SID in the path, any
non-empty token. Errors come back as Twilio does: `{"code", "message", "more_info", "status"}`.

Sandbox controls: `POST /_sandbox/twilio/fail-next` (next create answers an error, or answers late
after recording the message, to test timeouts) and `POST /_sandbox/twilio/opt-out` (a number that
replied STOP: error 21610).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import re
import uuid
from email.utils import format_datetime
from functools import partial
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.delivery_callbacks import schedule, twilio_requests
from sandbox.state import SandboxState, utcnow

API = "/twilio/2010-04-01/Accounts/{account_sid}"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
ALPHANUMERIC_SENDER = re.compile(r"^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$")
WHATSAPP = "whatsapp:"
GSM_SEGMENT, UCS2_SEGMENT = 160, 70
MAX_BODY = 1600


def twilio_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
         "status": status},
        status_code=status,
    )  # fmt: skip


class FailNext(BaseModel):
    """What the next create answers: an HTTP error with a Twilio code, or a late success."""

    status_code: int = Field(default=500, ge=200, le=599)
    code: int | None = Field(default=None, description="Twilio error code; default 20500 for 5xx, 20429 for 429")
    message: str | None = None
    delay_seconds: float = Field(default=0, ge=0, description="record the message, then answer this late")
    count: int = Field(default=1, ge=1)


class OptOut(BaseModel):
    number: str


def _segments(body: str) -> int:
    per = GSM_SEGMENT if body.isascii() else UCS2_SEGMENT
    return max(1, math.ceil(len(body) / per))


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    def token_of(request: Request) -> str:
        header = request.headers.get("authorization", "")
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            return base64.b64decode(header[6:]).decode().partition(":")[2]
        return ""

    def auth_error(request: Request, account_sid: str) -> JSONResponse | None:
        header = request.headers.get("authorization", "")
        user = password = ""
        if header.lower().startswith("basic "):
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        if not user or not password or user != account_sid:
            return twilio_error(401, 20003, "Authenticate")
        return None

    def message_json(account_sid: str, to: str, from_: str, body: str) -> dict[str, Any]:
        sid = "SM" + uuid.uuid4().hex
        now = format_datetime(utcnow())
        return {
            "account_sid": account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": None,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json",
        }

    def validate(to: str, from_: str, body: str) -> JSONResponse | None:
        if not to:
            return twilio_error(400, 21604, "A 'To' phone number is required.")
        if not from_:
            return twilio_error(400, 21603, "A 'From' phone number is required.")
        if not body:
            return twilio_error(400, 21602, "Message body is required.")
        whatsapp = to.startswith(WHATSAPP)
        if whatsapp != from_.startswith(WHATSAPP):
            return twilio_error(400, 63007, f"Twilio could not find a Channel with the specified From address: {from_}")
        to_number = to.removeprefix(WHATSAPP)
        from_number = from_.removeprefix(WHATSAPP)
        if not E164.match(to_number):
            return twilio_error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not E164.match(from_number) and (whatsapp or not ALPHANUMERIC_SENDER.match(from_number)):
            return twilio_error(
                400,
                21212,
                f"The 'From' number {from_} is not a valid phone number, shortcode, or alphanumeric sender ID.",
            )
        if to_number in state.twilio_opted_out:
            return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
        if len(body) > MAX_BODY:
            return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        return None

    @router.post(API + "/Messages.json", tags=["twilio"])
    async def create_message(account_sid: str, request: Request) -> JSONResponse:
        if (denied := auth_error(request, account_sid)) is not None:
            return denied
        form = await request.form()
        to, body = str(form.get("To") or "").strip(), str(form.get("Body") or "")
        from_ = str(form.get("From") or "").strip()
        service = str(form.get("MessagingServiceSid") or "")
        if not from_ and service:
            from_ = "+15005550006"  # a messaging service picks a number from its pool
        failure = state.twilio_fail_next.pop(0) if state.twilio_fail_next else None
        if failure and failure["count"] > 1:
            state.twilio_fail_next.insert(0, {**failure, "count": failure["count"] - 1})
        if failure and failure["status_code"] >= 300:
            status = failure["status_code"]
            code = failure["code"] or (20429 if status == 429 else 20500 if status >= 500 else 21000)
            return twilio_error(status, code, failure["message"] or "Sandbox failure requested by fail-next")
        if (invalid := validate(to, from_, body)) is not None:
            return invalid
        message = message_json(account_sid, to, from_, body)
        if service:
            message["messaging_service_sid"] = service
        with state.lock:
            state.texts.append({**message, "channel": "whatsapp" if to.startswith(WHATSAPP) else "sms"})
            state.twilio_auth_tokens[account_sid] = token = token_of(request)  # Twilio signs callbacks with it
        callback = str(form.get("StatusCallback") or "") or None
        url = callback or state.callback_url("twilio")
        schedule(state, client, "twilio", partial(twilio_requests, url, token, message=message), url)
        if failure and failure["delay_seconds"]:
            await asyncio.sleep(failure["delay_seconds"])  # taken, but the answer comes too late
        return JSONResponse(message, status_code=201)

    @router.get(API + "/Messages.json", tags=["twilio"])
    async def list_messages(account_sid: str, request: Request) -> JSONResponse:
        if (denied := auth_error(request, account_sid)) is not None:
            return denied
        params = request.query_params
        found = [
            {k: v for k, v in m.items() if k != "channel"}
            for m in reversed(state.texts)
            if m["account_sid"] == account_sid
            and (not params.get("To") or m["to"] == params["To"])
            and (not params.get("From") or m["from"] == params["From"])
        ]
        size = int(params.get("PageSize", 50))
        uri = f"/2010-04-01/Accounts/{account_sid}/Messages.json?PageSize={size}&Page=0"
        return JSONResponse(
            {
                "messages": found[:size],
                "end": max(0, min(size, len(found)) - 1),
                "first_page_uri": uri,
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": uri,
            }
        )

    @router.get(API + "/Messages/{message_sid}.json", tags=["twilio"])
    async def fetch_message(account_sid: str, message_sid: str, request: Request) -> JSONResponse:
        if (denied := auth_error(request, account_sid)) is not None:
            return denied
        for m in state.texts:
            if m["sid"] == message_sid and m["account_sid"] == account_sid:
                return JSONResponse({k: v for k, v in m.items() if k != "channel"})
        path = f"/2010-04-01/Accounts/{account_sid}/Messages/{message_sid}.json"
        return twilio_error(404, 20404, f"The requested resource {path} was not found")

    @router.post("/_sandbox/twilio/fail-next", tags=["sandbox"])
    async def fail_next(body: FailNext) -> JSONResponse:
        state.twilio_fail_next.append(body.model_dump())
        return JSONResponse({"queued": state.twilio_fail_next})

    @router.post("/_sandbox/twilio/opt-out", tags=["sandbox"])
    async def opt_out(body: OptOut) -> JSONResponse:
        state.twilio_opted_out.add(body.number.removeprefix(WHATSAPP))
        return JSONResponse({"opted_out": sorted(state.twilio_opted_out)})

    return router

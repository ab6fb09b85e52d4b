"""A stand-in for Meta's WhatsApp Cloud API (template messages), speaking the Graph API's JSON and errors.

`POST /whatsapp/{version}/{phone_number_id}/messages` with `Authorization: Bearer <access token>` (any
token that was not revoked). A valid template message answers 200 `{"messaging_product": "whatsapp",
"contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}`; errors come back as the Graph API
sends them: `{"error": {"message", "type", "code", "error_data": {"messaging_product", "details"},
"fbtrace_id"}}`. What was sent shows in the outbox with the text messages. Controls: see `vendor_controls`.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from email.utils import format_datetime
from functools import partial
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.delivery_callbacks import schedule, whatsapp_requests
from sandbox.state import SandboxState, utcnow
from sandbox.vendor_controls import VendorApi, answer_late, bearer_token, credential_hint

VENDOR = "whatsapp"
PHONE = re.compile(r"^\+?[1-9]\d{6,14}$")
NUMBER_ID = re.compile(r"^\d{1,32}$")
STATUS_CODES = {429: 130429, 500: 131000, 502: 1, 503: 2}
TITLES = {130429: "Rate limit hit", 131000: "Something went wrong", 1: "An unknown error occurred",
          2: "Service temporarily unavailable", 131026: "Message Undeliverable.", 190: "Invalid OAuth access token",
          100: "Invalid parameter"}  # fmt: skip


def graph_error(status: int, code: int, message: str, details: str | None = None) -> JSONResponse:
    error: dict[str, Any] = {
        "message": f"(#{code}) {message}" if code not in (190,) else message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": secrets.token_urlsafe(12),
    }
    if details:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    return JSONResponse({"error": error}, status_code=status)


def _validate(body: Any, api: VendorApi) -> JSONResponse | None:
    if not isinstance(body, dict):
        return graph_error(400, 100, "Invalid parameter", "The request body is not a JSON object")
    if body.get("messaging_product") != "whatsapp":
        return graph_error(400, 100, "The parameter messaging_product is required.")
    to = str(body.get("to") or "")
    if not PHONE.match(to):
        return graph_error(400, 100, "Invalid parameter", f"Parameter 'to' is not a valid phone number: {to}")
    if body.get("type") != "template":
        # a free-form message to someone who has not written within 24 hours
        return graph_error(
            400,
            131047,
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to this"
            " number.",
        )
    template = body.get("template")
    language = template.get("language") if isinstance(template, dict) else None
    if (
        not isinstance(template, dict)
        or not template.get("name")
        or not isinstance(language, dict)
        or not language.get("code")
    ):
        return graph_error(
            400, 131008, "Required parameter is missing", "template.name and template.language.code are required"
        )
    for component in template.get("components") or []:
        for parameter in component.get("parameters") or [] if isinstance(component, dict) else []:
            if (
                not isinstance(parameter, dict)
                or parameter.get("type") != "text"
                or not str(parameter.get("text") or "").strip()
            ):
                return graph_error(400, 131009, "Parameter value is not valid", "a text parameter needs non-empty text")
    if api.is_refused(to.lstrip("+")):
        return graph_error(400, 131026, TITLES[131026], "Message Undeliverable.")
    return None


def _summary(template: dict[str, Any]) -> str:
    values = [str(p.get("text")) for c in template.get("components") or [] for p in c.get("parameters") or []]
    return f"template {template['name']} ({template['language']['code']})" + (
        f": {' | '.join(values)}" if values else ""
    )


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()
    api = VendorApi(state, VENDOR)

    @router.post("/whatsapp/{version}/{phone_number_id}/messages", tags=["whatsapp"])
    async def send_message(version: str, phone_number_id: str, request: Request) -> JSONResponse:
        token = bearer_token(request)
        if not token or api.is_revoked(token):
            return graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
        if not NUMBER_ID.match(phone_number_id):
            return graph_error(
                400,
                100,
                "Invalid parameter",
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist",
            )
        failure = api.take_failure()
        if failure and failure["status_code"] >= 300:
            status = failure["status_code"]
            code = STATUS_CODES.get(status, 131000 if status >= 500 else 100)
            return graph_error(status, code, TITLES.get(code, "Invalid parameter"), failure["message"])
        try:
            body = json.loads(await request.body())
        except ValueError:
            return graph_error(400, 100, "Invalid parameter", "The request body is not valid JSON")
        if (invalid := _validate(body, api)) is not None:
            return invalid
        wa_id = body["to"].lstrip("+")
        wamid = "wamid." + base64.b64encode(secrets.token_bytes(24)).decode()
        api.record({"message_id": wamid, "credential": credential_hint(token), "version": version,
                               "phone_number_id": phone_number_id, "body": body})  # fmt: skip
        with state.lock:
            state.texts.append({
                "sid": wamid, "account_sid": None, "provider": "whatsapp_cloud", "channel": "whatsapp",
                "to": body["to"], "from": phone_number_id, "body": _summary(body["template"]),
                "date_created": format_datetime(utcnow()), "status": "accepted",
            })  # fmt: skip
        schedule(state, client, VENDOR, partial(whatsapp_requests, state, wamid=wamid,
                                                phone_number_id=phone_number_id, body=body))  # fmt: skip
        await answer_late(failure)
        return JSONResponse(
            {"messaging_product": "whatsapp", "contacts": [{"input": body["to"], "wa_id": wa_id}],
             "messages": [{"id": wamid}]}
        )  # fmt: skip

    router.include_router(api.controls())
    return router

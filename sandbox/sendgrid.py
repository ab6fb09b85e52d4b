"""A stand-in for SendGrid's v3 Mail Send API, speaking SendGrid's JSON and errors.

`POST /sendgrid/v3/mail/send` with `Authorization: Bearer <API key>` (any key that starts `SG.` and was
not revoked). A valid request answers 202 with an empty body and `X-Message-Id`; errors come back as
SendGrid sends them: `{"errors": [{"message", "field", "help"}]}`. What was sent shows in the outbox as
an email (and in `/_sandbox/sendgrid/requests` exactly as received). Controls: see `vendor_controls`.
"""

from __future__ import annotations

import json
import re
import secrets
from functools import partial
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.delivery_callbacks import schedule, sendgrid_requests
from sandbox.state import ReceivedEmail, SandboxState, utcnow
from sandbox.vendor_controls import VendorApi, answer_late, bearer_token, credential_hint

VENDOR = "sendgrid"
HELP = "http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NO_PERSONALIZATIONS = "The personalizations field is required and must have at least one personalization."
NO_TO = (
    "The to array is required for all personalization objects, and must have at least one email object with a"
    " valid email address."
)
NO_SUBJECT = (
    "The subject is required. You can get around this requirement if you use a template with a subject defined"
    " or if every personalization has a subject defined."
)
NO_CONTENT = (
    "Unless a valid template_id is provided, the content parameter is required. There must be at least one"
    " defined content block. We typically suggest both text/plain and text/html blocks are included, but only"
    " one block is required."
)


def sendgrid_errors(status: int, *errors: tuple[str | None, str]) -> JSONResponse:
    body = {
        "errors": [{"message": message, "field": field, "help": HELP if field else None} for field, message in errors]
    }
    return JSONResponse(body, status_code=status)


def _validate(body: Any, api: VendorApi) -> JSONResponse | None:
    if not isinstance(body, dict):
        return sendgrid_errors(400, (None, "Bad Request"))
    problems: list[tuple[str | None, str]] = []
    personalizations = body.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        problems.append(("personalizations", NO_PERSONALIZATIONS))
    else:
        for i, item in enumerate(personalizations):
            to = item.get("to") if isinstance(item, dict) else None
            if not isinstance(to, list) or not to:
                problems.append((f"personalizations.{i}.to", NO_TO))
                continue
            for j, address in enumerate(to):
                email = address.get("email") if isinstance(address, dict) else None
                if not isinstance(email, str) or not EMAIL.match(email) or api.is_refused(email):
                    problems.append((f"personalizations.{i}.to.{j}.email", "Does not contain a valid address."))
    sender = body.get("from")
    if not isinstance(sender, dict) or not isinstance(sender.get("email"), str) or not EMAIL.match(sender["email"]):
        problems.append(("from.email", "The from email does not contain a valid address."))
    if not body.get("subject") and not any(isinstance(p, dict) and p.get("subject") for p in personalizations or []):
        problems.append(("subject", NO_SUBJECT))
    content = body.get("content")
    if not isinstance(content, list) or not content:
        problems.append(("content", NO_CONTENT))
    elif any(isinstance(c, dict) and c.get("type") == "text/plain" for c in content[1:]):
        problems.append(("content", "If present, text/plain content must be first, followed by text/html."))
    return sendgrid_errors(400, *problems) if problems else None


def _display(address: dict[str, Any]) -> str:
    name = address.get("name")
    return f"{name} <{address['email']}>" if name else str(address["email"])


def _content(body: dict[str, Any], kind: str) -> str | None:
    return next(
        (c.get("value") for c in body.get("content", []) if isinstance(c, dict) and c.get("type") == kind), None
    )


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()
    api = VendorApi(state, VENDOR)

    @router.post("/sendgrid/v3/mail/send", tags=["sendgrid"])
    async def mail_send(request: Request) -> Response:
        key = bearer_token(request)
        if not key.startswith("SG.") or api.is_revoked(key):
            return sendgrid_errors(401, (None, "The provided authorization grant is invalid, expired, or revoked"))
        failure = api.take_failure()
        if failure and failure["status_code"] >= 300:
            default = "Too many requests" if failure["status_code"] == 429 else "Internal server error"
            return sendgrid_errors(failure["status_code"], (None, failure["message"] or default))
        try:
            body = json.loads(await request.body())
        except ValueError:
            return sendgrid_errors(400, (None, "Bad Request"))
        if (invalid := _validate(body, api)) is not None:
            return invalid
        message_id = secrets.token_urlsafe(16)[:22]
        first = body["personalizations"][0]
        api.record({"message_id": message_id, "credential": credential_hint(key), "body": body})
        state.add_email(
            ReceivedEmail(
                mail_from=body["from"]["email"],
                rcpt_tos=[a["email"] for p in body["personalizations"] for a in p["to"]],
                from_=_display(body["from"]),
                to=", ".join(a["email"] for a in first["to"]),
                subject=first.get("subject") or body.get("subject") or "",
                text=_content(body, "text/plain"),
                html=_content(body, "text/html"),
                message_id=message_id,
                received_at=utcnow(),
                headers={"Provider": "SendGrid (sandbox)", "X-Message-Id": message_id,
                         "Custom args": json.dumps(body.get("custom_args") or {}), "API key": credential_hint(key)},
            )
        )  # fmt: skip
        schedule(state, client, VENDOR, partial(sendgrid_requests, state, message_id=message_id, body=body))
        await answer_late(failure)
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    router.include_router(api.controls())
    return router

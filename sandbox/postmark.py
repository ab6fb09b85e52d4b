"""A stand-in for Postmark's Email API, speaking Postmark's JSON and error codes.

`POST /postmark/email` with `X-Postmark-Server-Token` (any token that was not revoked). A valid request
answers 200 `{"To", "SubmittedAt", "MessageID", "ErrorCode": 0, "Message": "OK"}`; errors come back as
Postmark sends them: `{"ErrorCode", "Message"}` (401 for the token, 422 for the message, 429, 500). What
was sent shows in the outbox as an email. `GET /postmark/messages/outbound` is the Outbound message search
(`count`, `offset`, `recipient`, `messagestream`, one `metadata_<name>=<value>`), answered in Postmark's shape
over what this server's token sent. Controls: see `vendor_controls`.
"""

from __future__ import annotations

import json
import re
import uuid
from email.utils import parseaddr
from functools import partial
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.delivery_callbacks import postmark_requests, schedule
from sandbox.state import ReceivedEmail, SandboxState, utcnow
from sandbox.vendor_controls import VendorApi, answer_late, credential_hint

VENDOR = "postmark"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


INACTIVE = (
    "You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {to}."
    " Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual suppression."
)


def postmark_error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse({"ErrorCode": code, "Message": message}, status_code=status)


def _validate(body: Any, api: VendorApi) -> JSONResponse | None:
    if not isinstance(body, dict):
        return postmark_error(422, 402, "Received invalid JSON input.")
    sender = parseaddr(str(body.get("From") or ""))[1]
    if not EMAIL.match(sender):
        return postmark_error(422, 300, "Invalid 'From' address: '{}'.".format(body.get("From") or ""))
    to = parseaddr(str(body.get("To") or ""))[1]
    if not body.get("To"):
        return postmark_error(422, 300, "Zero recipients specified")
    if not EMAIL.match(to):
        return postmark_error(
            422, 300, f"Error parsing 'To': Illegal email address '{body['To']}'. It must contain the '@' symbol."
        )
    if api.is_refused(to):
        return postmark_error(
            422,
            406,
            f"You tried to send to recipient(s) that have been marked as inactive. Found inactive addresses: {to}."
            " Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a manual"
            " suppression.",
        )
    if not body.get("TextBody") and not body.get("HtmlBody"):
        return postmark_error(422, 300, "Provide either email TextBody or HtmlBody or both.")
    metadata = body.get("Metadata")
    if metadata is not None and (
        not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values())
    ):
        return postmark_error(422, 300, "Metadata values must be strings.")
    return None


def outbound_summary(entry: dict[str, Any]) -> dict[str, Any]:
    """One sent message as the Outbound message search lists it."""
    body = entry["body"]
    name, address = parseaddr(body["To"])
    return {
        "Tag": body.get("Tag") or "",
        "MessageID": entry["message_id"],
        "MessageStream": str(body.get("MessageStream") or "outbound"),
        "To": [{"Email": address, "Name": name or None}],
        "Cc": [],
        "Bcc": [],
        "Recipients": [address],
        "ReceivedAt": entry.get("submitted_at"),
        "From": body["From"],
        "Subject": body.get("Subject") or "",
        "Attachments": [],
        "Status": "Sent",
        "TrackOpens": False,
        "TrackLinks": "None",
        "Metadata": body.get("Metadata") or {},
        "Sandboxed": False,
    }


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()
    api = VendorApi(state, VENDOR)

    @router.post("/postmark/email", tags=["postmark"])
    async def send_email(request: Request) -> JSONResponse:
        token = request.headers.get("x-postmark-server-token", "")
        if not token:
            return postmark_error(
                401,
                10,
                "No Account or Server API tokens were supplied in the HTTP headers. "
                "Please add a header for either X-Postmark-Server-Token or X-Postmark-Account-Token.",
            )
        if api.is_revoked(token):
            return postmark_error(
                401,
                10,
                "The Server Token you provided in the X-Postmark-Server-Token request "
                "header was invalid. Please verify that you are using a valid token.",
            )
        failure = api.take_failure()
        if failure and failure["status_code"] >= 300:
            status = failure["status_code"]
            code = 429 if status == 429 else 100 if status == 503 else 0
            return postmark_error(
                status,
                code,
                failure["message"]
                or ("Rate limit exceeded." if status == 429 else "Sandbox failure requested by fail-next"),
            )
        try:
            body = json.loads(await request.body())
        except ValueError:
            return postmark_error(422, 402, "Received invalid JSON input.")
        if (invalid := _validate(body, api)) is not None:
            return invalid
        message_id = str(uuid.uuid4())
        submitted = utcnow()
        api.record({"message_id": message_id, "credential": credential_hint(token), "body": body,
                               "submitted_at": submitted.isoformat()})  # fmt: skip
        state.add_email(
            ReceivedEmail(
                mail_from=parseaddr(body["From"])[1],
                rcpt_tos=[parseaddr(body["To"])[1]],
                from_=body["From"],
                to=body["To"],
                subject=body.get("Subject") or "",
                text=body.get("TextBody"),
                html=body.get("HtmlBody"),
                message_id=message_id,
                received_at=submitted,
                headers={"Provider": "Postmark (sandbox)", "MessageID": message_id,
                         "MessageStream": str(body.get("MessageStream") or "outbound"),
                         "Metadata": json.dumps(body.get("Metadata") or {}), "Server token": credential_hint(token)},
            )
        )  # fmt: skip
        schedule(state, client, VENDOR, partial(postmark_requests, state, message_id=message_id, body=body))
        await answer_late(failure)
        return JSONResponse(
            {
                "To": body["To"],
                "SubmittedAt": submitted.isoformat(),
                "MessageID": message_id,
                "ErrorCode": 0,
                "Message": "OK",
            }
        )

    @router.get("/postmark/messages/outbound", tags=["postmark"])
    async def search_outbound(request: Request) -> JSONResponse:
        token = request.headers.get("x-postmark-server-token", "")
        if not token or api.is_revoked(token):
            return postmark_error(401, 10, "The Server Token you provided in the X-Postmark-Server-Token request"
                                  " header was invalid. Please verify that you are using a valid token.")  # fmt: skip
        params = request.query_params
        try:
            count, offset = int(params.get("count", "")), int(params.get("offset", ""))
        except ValueError:
            return postmark_error(422, 300, "The 'count' and 'offset' parameters are required numbers.")
        if not 0 < count <= 500 or offset < 0 or count + offset > 10000:
            return postmark_error(422, 300, "Count must be 1-500, and count + offset at most 10,000.")
        meta = [(k.removeprefix("metadata_"), v) for k, v in params.items() if k.startswith("metadata_")]
        with state.lock:
            sent = list(reversed(state.api_requests.get(VENDOR, [])))
        found = [
            outbound_summary(entry)
            for entry in sent
            if entry["credential"] == credential_hint(token)
            and (not params.get("recipient") or parseaddr(entry["body"]["To"])[1] == params["recipient"])
            and (str(entry["body"].get("MessageStream") or "outbound") == params.get("messagestream", "outbound"))
            and all((entry["body"].get("Metadata") or {}).get(name) == value for name, value in meta)
        ]
        return JSONResponse({"TotalCount": len(found), "Messages": found[offset : offset + count]})

    router.include_router(api.controls())
    return router

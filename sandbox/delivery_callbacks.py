"""Delivery callbacks, as the messaging vendors send them, after each message a stand-in accepted.

Each vendor reports what became of a message to one URL, signed its own way:
- SendGrid: a JSON array of events, ECDSA P-256/SHA-256 over `timestamp + body`, base64 DER in
  `X-Twilio-Email-Event-Webhook-Signature`, the timestamp in `X-Twilio-Email-Event-Webhook-Timestamp`; the
  verification key (base64 DER) is `GET /_sandbox/sendgrid/verification-key`, as SendGrid's dashboard shows it;
- Postmark: one JSON record per POST (`RecordType`), HTTP basic auth with the webhook's user and password;
- Twilio: form-encoded status callbacks to the message's `StatusCallback`, `X-Twilio-Signature` = base64
  HMAC-SHA1 of the URL followed by the sorted parameters (name, value), keyed with the account's auth token
  (the one the message was sent with);
- WhatsApp Cloud: the `whatsapp_business_account` envelope with `statuses`, `X-Hub-Signature-256:
  sha256=<hex HMAC-SHA256 of the body>` keyed with the app secret.

By default a message is delivered (SendGrid `processed` then `delivered`, Twilio and WhatsApp `sent` then
`delivered`, Postmark `Delivery`). `POST /_sandbox/<vendor>/next-callback` (`{"outcome": "bounced", "count": 1}`)
makes the next sends bounce, complain, fail, or report nothing (`none`: a lost callback); `GET
/_sandbox/<vendor>/callbacks` lists what was posted and what the receiver answered. The callbacks go to
`SandboxState.callback_url(provider)`: the API's `/v1/providers/{provider}/events` next to the carrier webhook
URL. The sandbox signs with its own code: the receiver's verifier is what is being tested.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from typing import Any, Literal

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.state import SandboxState, utcnow

Outcome = Literal["delivered", "bounced", "complained", "failed", "none"]
PROVIDERS = {"sendgrid": "sendgrid", "postmark": "postmark", "twilio": "twilio", "whatsapp": "whatsapp_cloud"}
OUTCOMES: dict[str, set[str]] = {
    "sendgrid": {"delivered", "bounced", "complained", "failed", "none"},
    "postmark": {"delivered", "bounced", "complained", "failed", "none"},
    "twilio": {"delivered", "bounced", "failed", "none"},  # SMS has no spam complaint
    "whatsapp": {"delivered", "bounced", "complained", "failed", "none"},
}
FIRST_DELAY = 0.2  # seconds after the send's answer: the sender records its id first, as with a real vendor
WABA_ID = "102290129340398"  # the sandbox's WhatsApp Business Account
ERROR_CODES_PAGE = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"


class NextCallback(BaseModel):
    outcome: Outcome = "delivered"
    count: int = Field(default=1, ge=1, le=100)


def next_outcome(state: SandboxState, vendor: str) -> str:
    """What the next accepted message of `vendor` becomes (a queued control, else delivered)."""
    with state.lock:
        queue = state.callback_next.setdefault(vendor, [])
        if not queue:
            return "delivered"
        entry = queue.pop(0)
        if entry["count"] > 1:
            queue.insert(0, {**entry, "count": entry["count"] - 1})
        return str(entry["outcome"])


def signing_key(state: SandboxState) -> ec.EllipticCurvePrivateKey:
    """SendGrid's signing key: the one the sandbox was given (base64 DER PKCS#8), else one made on first use."""
    with state.lock:
        if state.sendgrid_private_key is None:
            if state.sendgrid_signing_key:
                key = serialization.load_der_private_key(base64.b64decode(state.sendgrid_signing_key), None)
                assert isinstance(key, ec.EllipticCurvePrivateKey), "the SendGrid signing key must be P-256"
            else:
                key = ec.generate_private_key(ec.SECP256R1())
            state.sendgrid_private_key = key
        return state.sendgrid_private_key


def verification_key(state: SandboxState) -> str:
    """The public half as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = (
        signing_key(state)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


# -- each vendor's requests: (body, headers) per callback, in the order the vendor sends them ------------------


Request = tuple[bytes, dict[str, str]]


def sendgrid_requests(state: SandboxState, outcome: str, *, message_id: str, body: dict[str, Any]) -> list[Request]:
    first = body["personalizations"][0]
    email = first["to"][0]["email"]
    custom = {**(body.get("custom_args") or {}), **(first.get("custom_args") or {})}
    now = int(utcnow().timestamp())

    def event(name: str, **fields: Any) -> dict[str, Any]:
        return {"email": email, "timestamp": now, "smtp-id": f"<{message_id}@sandbox.sendgrid>", "event": name,
                "sg_event_id": secrets.token_urlsafe(16), "sg_message_id": f"{message_id}.filter0001.sandbox.0",
                **fields, **custom}  # fmt: skip

    processed = event("processed")
    events = {
        "delivered": [processed, event("delivered", response="250 OK", ip="127.0.0.1")],
        "bounced": [processed, event("bounce", type="bounce", status="5.1.1", bounce_classification="Invalid Address",
                                     reason="550 5.1.1 The email account that you tried to reach does not exist.")],
        "complained": [processed, event("delivered", response="250 OK"), event("spamreport")],
        "failed": [processed, event("dropped", reason="Bounced Address", status="5.0.0")],
    }[outcome]  # fmt: skip
    raw = json.dumps(events).encode()
    timestamp = str(now)
    signature = signing_key(state).sign(timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    return [(raw, {"Content-Type": "application/json", "User-Agent": "SendGrid Event API",
                   "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                   "X-Twilio-Email-Event-Webhook-Timestamp": timestamp})]  # fmt: skip


def postmark_requests(state: SandboxState, outcome: str, *, message_id: str, body: dict[str, Any]) -> list[Request]:
    from email.utils import parseaddr

    recipient = parseaddr(str(body.get("To") or ""))[1]
    at = utcnow().isoformat().replace("+00:00", "Z")
    common = {"MessageStream": str(body.get("MessageStream") or "outbound"), "MessageID": message_id,
              "Tag": body.get("Tag") or "", "Metadata": body.get("Metadata") or {}, "ServerID": 1}  # fmt: skip
    delivery = {"RecordType": "Delivery", **common, "Recipient": recipient, "DeliveredAt": at,
                "Details": "smtp;250 2.0.0 OK"}  # fmt: skip

    def bounce(kind: str, code: int, name: str, description: str) -> dict[str, Any]:
        return {"RecordType": "SpamComplaint" if kind == "SpamComplaint" else "Bounce", **common,
                "ID": secrets.randbelow(10**12), "Type": kind, "TypeCode": code, "Name": name,
                "Description": description, "Details": "sandbox", "Email": recipient, "From": body.get("From"),
                "BouncedAt": at, "DumpAvailable": False, "Inactive": kind in ("HardBounce", "SpamComplaint"),
                "CanActivate": True, "Subject": body.get("Subject") or "", "Content": ""}  # fmt: skip

    records = {
        "delivered": [delivery],
        "bounced": [bounce("HardBounce", 1, "Hard bounce", "The server was unable to deliver your message (ex: "
                           "unknown user, mailbox not found).")],
        "complained": [delivery, bounce("SpamComplaint", 100001, "Spam complaint",
                                        "The subscriber explicitly marked this email as spam.")],
        "failed": [bounce("Blocked", 100006, "ISP block", "The ISP has blocked this message.")],
    }[outcome]  # fmt: skip
    user, password = state.postmark_webhook_user, state.postmark_webhook_password
    auth = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    headers = {"Content-Type": "application/json", "User-Agent": "Postmark", "Authorization": auth}
    return [(json.dumps(record).encode(), headers) for record in records]


def twilio_sign(url: str, params: list[tuple[str, str]], auth_token: str) -> str:
    payload = url + "".join(name + value for name, value in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def twilio_requests(url: str, auth_token: str, outcome: str, *, message: dict[str, Any]) -> list[Request]:
    from urllib.parse import urlencode

    by_outcome: dict[str, list[tuple[str, str | None]]] = {
        "delivered": [("sent", None), ("delivered", None)],
        "bounced": [("undelivered", "30005")],  # unknown destination handset
        "failed": [("failed", "30008")],  # unknown error
    }
    statuses = by_outcome[outcome]
    requests = []
    for status, error in statuses:
        params = [("SmsSid", message["sid"]), ("SmsStatus", status), ("MessageStatus", status), ("To", message["to"]),
                  ("MessageSid", message["sid"]), ("AccountSid", message["account_sid"]), ("From", message["from"]),
                  ("ApiVersion", "2010-04-01")]  # fmt: skip
        if error:
            params.insert(0, ("ErrorCode", error))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1",
                   "X-Twilio-Signature": twilio_sign(url, params, auth_token)}  # fmt: skip
        requests.append((urlencode(params).encode(), headers))
    return requests


def whatsapp_requests(
    state: SandboxState, outcome: str, *, wamid: str, phone_number_id: str, body: dict[str, Any]
) -> list[Request]:
    now = str(int(utcnow().timestamp()))
    errors = {"bounced": (131026, "Message undeliverable"), "failed": (131000, "Something went wrong"),
              "complained": (131050, "Unable to deliver the message. This recipient has chosen to stop receiving "
                                     "marketing messages on WhatsApp from your business")}  # fmt: skip

    def status(name: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"id": wamid, "status": name, "timestamp": now, "recipient_id": body["to"].lstrip("+")}
        if body.get("biz_opaque_callback_data"):
            entry["biz_opaque_callback_data"] = body["biz_opaque_callback_data"]
        if name == "failed":
            code, title = errors[outcome]
            entry["errors"] = [{"code": code, "title": title, "message": title, "error_data": {"details": title},
                                "href": ERROR_CODES_PAGE}]  # fmt: skip
        else:
            entry["conversation"] = {"id": hashlib.md5(wamid.encode()).hexdigest(), "origin": {"type": "utility"}}
            entry["pricing"] = {"billable": True, "pricing_model": "CBP", "category": "utility"}
        return {"object": "whatsapp_business_account", "entry": [{"id": WABA_ID, "changes": [{"value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
            "statuses": [entry]}, "field": "messages"}]}]}  # fmt: skip

    names = {"delivered": ["sent", "delivered"]}.get(outcome, ["failed"])
    requests = []
    for name in names:
        raw = json.dumps(status(name)).encode()
        digest = hmac.new(state.whatsapp_app_secret.encode(), raw, hashlib.sha256).hexdigest()
        requests.append((raw, {"Content-Type": "application/json", "X-Hub-Signature-256": f"sha256={digest}"}))
    return requests


# -- sending them ---------------------------------------------------------------------------------------------------


def schedule(
    state: SandboxState, client: httpx.AsyncClient, vendor: str, build: Callable[[str], list[Request]],
    url: str | None = None,
) -> None:  # fmt: skip
    """After an accepted send: the vendor's callbacks for this message, in order, in the background. `build`
    makes the requests for an outcome; `url` is where they go (Twilio: the message's StatusCallback)."""
    outcome = next_outcome(state, vendor)
    if outcome == "none" or not state.callbacks_enabled:
        return
    target = url or state.callback_url(PROVIDERS[vendor])
    requests = build(outcome)
    state.spawn(_post_all(state, client, vendor, target, outcome, requests))


async def _post_all(
    state: SandboxState, client: httpx.AsyncClient, vendor: str, url: str, outcome: str, requests: list[Request]
) -> None:
    await asyncio.sleep(FIRST_DELAY)
    for body, headers in requests:
        shown = {k: (v[:6] + "…" if k == "Authorization" else v) for k, v in headers.items()}  # no credentials
        record: dict[str, Any] = {"vendor": vendor, "outcome": outcome, "url": url, "headers": shown,
                                  "body": body.decode(), "attempts": []}  # fmt: skip
        with state.lock:
            state.callbacks.append(record)
        for delay in (0.0, *state.webhook_retry_delays):
            await asyncio.sleep(delay)
            try:
                resp = await client.post(url, content=body, headers=headers, timeout=state.webhook_timeout)
            except httpx.HTTPError as exc:
                record["attempts"].append({"at": utcnow().isoformat(), "status_code": None, "error": repr(exc)[:300]})
                continue
            record["attempts"].append({"at": utcnow().isoformat(), "status_code": resp.status_code})
            if resp.is_success or 400 <= resp.status_code < 500:  # a refusal is not retried: it would fail again
                break


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter()

    @router.post("/_sandbox/{vendor}/next-callback", tags=["sandbox"])
    async def next_callback(vendor: str, body: NextCallback) -> JSONResponse:
        if vendor not in OUTCOMES:
            return JSONResponse({"error": f"no delivery callbacks for {vendor!r}; one of {sorted(OUTCOMES)}"}, 404)
        if body.outcome not in OUTCOMES[vendor]:
            allowed = ", ".join(sorted(OUTCOMES[vendor]))
            return JSONResponse({"error": f"{vendor} callbacks cannot say {body.outcome}; one of {allowed}"}, 422)
        with state.lock:
            state.callback_next.setdefault(vendor, []).append(body.model_dump())
            queued = list(state.callback_next[vendor])
        return JSONResponse({"queued": queued})

    @router.get("/_sandbox/{vendor}/callbacks", tags=["sandbox"])
    async def callbacks(vendor: str) -> JSONResponse:
        with state.lock:
            sent = [c for c in state.callbacks if c["vendor"] == vendor]
        return JSONResponse({"callbacks": sent})

    @router.get("/_sandbox/sendgrid/verification-key", tags=["sandbox"])
    async def sendgrid_verification_key() -> JSONResponse:
        return JSONResponse({"public_key": verification_key(state)})

    return router

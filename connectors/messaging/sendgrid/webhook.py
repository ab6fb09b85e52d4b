"""SendGrid's signed Event Webhook: verify, then read the batch of events.

SendGrid signs `timestamp + raw body` with ECDSA (P-256, SHA-256) and sends the base64 DER signature in
`X-Twilio-Email-Event-Webhook-Signature` and the timestamp in `X-Twilio-Email-Event-Webhook-Timestamp`. The
verification key (Mail Settings > Signed Event Webhook) is a base64 DER SubjectPublicKeyInfo, kept in
`AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY`. The body is a JSON array of events (`email`, `timestamp`, `event`,
`sg_event_id`, `sg_message_id`, ...), with the message's `custom_args` as top-level fields of each event.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.messaging.callbacks import (
    KEY_FIELD,
    MAX_EVENTS,
    CallbackRefused,
    event_hash,
    from_unix,
    json_body,
    text,
)
from connectors.messaging.sendgrid.units_events import map_event
from connectors.webhooks import header
from domain import Channel
from domain.delivery import DeliveryEvent

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
PROVIDER = "sendgrid"


def public_key(encoded: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 DER); a clear refusal if it is anything else."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(encoded.strip(), validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise CallbackRefused(
            "unconfigured", "AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY is not a base64 DER public key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CallbackRefused("unconfigured", "AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY is not an elliptic curve key")
    return key


def sign(body: bytes, timestamp: str, private_key: ec.EllipticCurvePrivateKey) -> str:
    """The signature header SendGrid would send for `body` (for the sandbox and tests)."""
    return base64.b64encode(private_key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()


def verify(body: bytes, headers: Mapping[str, str], encoded_key: str) -> None:
    """Raise CallbackRefused unless `body` carries SendGrid's signature for the configured key."""
    signature, timestamp = header(headers, SIGNATURE_HEADER), header(headers, TIMESTAMP_HEADER)
    if not signature:
        raise CallbackRefused("signature", f"missing {SIGNATURE_HEADER} header")
    if not timestamp:
        raise CallbackRefused("signature", f"missing {TIMESTAMP_HEADER} header")
    if not encoded_key:
        raise CallbackRefused("unconfigured", "no SendGrid verification key: set AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY")
    key = public_key(encoded_key)
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise CallbackRefused("signature", f"bad signature in {SIGNATURE_HEADER} (wrong verification key?)") from None


def parse(body: bytes, headers: Mapping[str, str], encoded_key: str) -> list[DeliveryEvent]:
    """The events of a verified batch; events SendGrid documents that we do not track are left out."""
    verify(body, headers, encoded_key)
    batch = json_body(body)
    if not isinstance(batch, list):
        raise CallbackRefused("malformed", "body must be a JSON array of SendGrid events")
    if len(batch) > MAX_EVENTS:
        raise CallbackRefused("malformed", f"{len(batch)} events in one body; at most {MAX_EVENTS}")
    events = []
    for index, raw in enumerate(batch):
        event = _event(index, raw)
        if event is not None:
            events.append(event)
    return events


def provider_id(sg_message_id: str) -> str:
    """The id the mail send answered with (`X-Message-Id`): an event's sg_message_id is that id, a dot, and
    SendGrid's own routing suffix (`<id>.filterdrecv-...`)."""
    return sg_message_id.split(".", 1)[0]


def _event(index: int, raw: Any) -> DeliveryEvent | None:
    where = f"event {index}"
    if not isinstance(raw, dict):
        raise CallbackRefused("malformed", f"{where} is not a JSON object")
    name = raw.get("event")
    if not isinstance(name, str) or not name:
        raise CallbackRefused("malformed", f"{where} has no 'event'")
    if "timestamp" not in raw:
        raise CallbackRefused("malformed", f"{where} ({name}) has no 'timestamp'")
    occurred_at = from_unix(raw["timestamp"], f"{where} timestamp")
    bounce_type = raw.get("type") if isinstance(raw.get("type"), str) else None
    mapped = map_event(name, bounce_type)
    if mapped is None:
        return None
    status, suppress = mapped
    sg_message_id = raw.get("sg_message_id")
    key = raw.get(KEY_FIELD)
    detail = " ".join(text(raw.get(f), 200) for f in ("status", "reason", "response") if raw.get(f))
    return DeliveryEvent(
        provider=PROVIDER,
        channels=(Channel.EMAIL,),
        event_id=text(raw.get("sg_event_id"), 300) or event_hash(name, raw["timestamp"], sg_message_id),
        provider_message_id=provider_id(str(sg_message_id))[:300] if sg_message_id else None,
        idempotency_key=text(key, 300) if isinstance(key, str) and key else None,
        vendor_event=text(f"{name} ({bounce_type})" if bounce_type and name == "bounce" else name, 100),
        status=status,
        suppress=suppress,
        occurred_at=occurred_at,
        recipient=text(raw.get("email"), 320) or None,
        detail=detail[:500],
    )

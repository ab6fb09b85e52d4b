"""Everything the sandbox's stand-ins received or hold, in one object tests and pages can read.

The SMTP sink runs in its own thread (aiosmtpd's Controller), so writes go through `lock`.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STRIPE_KEPT = ("payment_intents", "charges", "refunds", "stripe_idempotency", "stripe_owners")
"""The Stripe stand-in's memory that outlives a restart (when `stripe_state_file` is set)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(when: datetime) -> str:
    """EasyPost's timestamp style: UTC, seconds, trailing Z (a naive time is taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class ReceivedEmail:
    """One message the SMTP sink accepted, parsed into what a reviewer looks at."""

    mail_from: str
    rcpt_tos: list[str]
    from_: str
    to: str
    subject: str
    text: str | None
    html: str | None
    message_id: str
    received_at: datetime
    headers: dict[str, str] = field(default_factory=dict)
    id: int = 0  # numbered by SandboxState.add_email

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["from"] = data.pop("from_")
        data["received_at"] = self.received_at.isoformat()
        return data


@dataclass
class DeliveryAttempt:
    at: datetime
    status_code: int | None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "status_code": self.status_code, "error": self.error}


@dataclass
class WebhookDelivery:
    """One EasyPost Event on its way to the webhook URL, with every attempt made so far."""

    event_id: str
    description: str
    tracking_code: str
    url: str
    attempts: list[DeliveryAttempt] = field(default_factory=list)
    delivered: bool = False
    gave_up: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "description": self.description,
            "tracking_code": self.tracking_code,
            "url": self.url,
            "delivered": self.delivered,
            "gave_up": self.gave_up,
            "attempts": [a.to_json() for a in self.attempts],
        }


@dataclass
class SinkedWebhook:
    """A webhook the sandbox's own receiver got (useful when no Aftercare API is running)."""

    received_at: datetime
    headers: dict[str, str]
    body: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "received_at": self.received_at.isoformat(),
            "headers": self.headers,
            "body": self.body.decode(errors="replace"),
        }


# What the messaging stand-ins sign their delivery callbacks with unless told otherwise (`python -m sandbox` reads
# the same variables the API does; the embedded stack hands both the same values).
POSTMARK_WEBHOOK_USER = "sandbox-postmark"
POSTMARK_WEBHOOK_PASSWORD = "sandbox-postmark-webhook-password"
WHATSAPP_APP_SECRET = "sandbox-whatsapp-app-secret"


@dataclass
class SandboxState:
    """The memory of every stand-in. Reset with `reset()`; clear the outbox with `clear_outbox()`."""

    webhook_url: str = "http://127.0.0.1:8000/v1/carriers/easypost/events"
    webhook_secret: str = "sandbox-webhook-secret"
    easypost_api_keys: set[str] = field(default_factory=lambda: {"sandbox-key"})
    stripe_api_keys: set[str] = field(default_factory=lambda: {"sk_test_sandbox"})
    # waits before the 2nd, 3rd... delivery attempt of a webhook that failed
    webhook_retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0)
    webhook_timeout: float = 10.0
    # where the servers listen, filled in by run_sandbox
    http_url: str = ""
    smtp_host: str = ""
    smtp_port: int = 0
    # EasyPost
    trackers: dict[str, dict[str, Any]] = field(default_factory=dict)  # trk_ id -> Tracker JSON
    tracker_ids: dict[str, str] = field(default_factory=dict)  # tracking code -> trk_ id
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[WebhookDelivery] = field(default_factory=list)
    webhook_sink: list[SinkedWebhook] = field(default_factory=list)
    sink_fail_next: int = 0
    easypost_fail_next: list[dict[str, Any]] = field(default_factory=list)
    scripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    shipments: dict[str, dict[str, Any]] = field(default_factory=dict)  # shp_ id -> Shipment JSON (return labels)
    # AfterShip (`sandbox.aftership`), Shippo (`sandbox.shippo`) and 17TRACK (`sandbox.seventeentrack`): their
    # keys, the secrets their pushes are signed with (the settings' defaults), the parcels they follow, scripted
    # failures
    aftership_api_keys: set[str] = field(default_factory=lambda: {"sandbox-key"})
    aftership_webhook_secret: str = "sandbox-aftership-webhook-secret"
    aftership_trackings: dict[str, dict[str, Any]] = field(default_factory=dict)  # "slug/number" -> Tracking JSON
    aftership_fail_next: list[dict[str, Any]] = field(default_factory=list)
    shippo_api_keys: set[str] = field(default_factory=lambda: {"shippo_test_sandbox"})
    shippo_webhook_secret: str = "sandbox-shippo-webhook-secret"
    shippo_tracks: dict[str, dict[str, Any]] = field(default_factory=dict)  # "carrier/number" -> Track JSON
    shippo_fail_next: list[dict[str, Any]] = field(default_factory=list)
    seventeentrack_api_keys: set[str] = field(default_factory=lambda: {"sandbox-17track-key"})
    seventeentrack_webhook_secret: str = "sandbox-17track-security-key"
    seventeentrack_tracks: dict[str, dict[str, Any]] = field(default_factory=dict)  # number -> parcel JSON
    seventeentrack_fail_next: list[dict[str, Any]] = field(default_factory=list)
    push_urls: dict[str, str] = field(default_factory=dict)  # provider -> where its pushes go (see push_url)
    # Stripe
    payment_intents: dict[str, dict[str, Any]] = field(default_factory=dict)  # pi_ id -> PaymentIntent JSON
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)  # ch_ id -> Charge JSON
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # re_ id -> Refund JSON, oldest first
    stripe_idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)  # acct:key -> request and answer
    stripe_owners: dict[str, str] = field(default_factory=dict)  # pi_/ch_/re_ id -> the account (acct_) that made it
    stripe_state_file: Path | None = None  # where the Stripe objects are kept across restarts; None: memory only
    stripe_in_flight: set[str] = field(default_factory=set)  # idempotency keys of requests still running
    stripe_fail_next: list[dict[str, Any]] = field(default_factory=list)
    # Twilio
    texts: list[dict[str, Any]] = field(default_factory=list)  # Message JSON + "channel"
    twilio_fail_next: list[dict[str, Any]] = field(default_factory=list)
    twilio_opted_out: set[str] = field(default_factory=set)
    # WooCommerce (sandbox/woocommerce.py): its settings, orders and webhook deliveries
    woocommerce: dict[str, Any] = field(default_factory=dict)
    # SendGrid, Postmark, WhatsApp Cloud (sandbox/vendor_controls.py), each list or set keyed by vendor
    api_requests: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # what each API received
    api_fail_next: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    api_refused: dict[str, set[str]] = field(default_factory=dict)  # recipients the vendor will not take
    api_revoked_keys: dict[str, set[str]] = field(default_factory=dict)
    # Messaging vendors' delivery callbacks (sandbox/delivery_callbacks.py): what signs them (the settings' values
    # in the embedded stack), where they go, what the next ones say, and what was posted
    sendgrid_signing_key: str = field(default="", repr=False)  # base64 DER PKCS#8 P-256; empty: made on first use
    sendgrid_private_key: Any = field(default=None, repr=False)
    postmark_webhook_user: str = POSTMARK_WEBHOOK_USER
    postmark_webhook_password: str = field(default=POSTMARK_WEBHOOK_PASSWORD, repr=False)
    whatsapp_app_secret: str = field(default=WHATSAPP_APP_SECRET, repr=False)
    twilio_auth_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # AccountSid -> token it sent with
    callback_urls: dict[str, str] = field(default_factory=dict)  # provider -> where its callbacks go
    callbacks_enabled: bool = True
    callback_next: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    # Shopify (a shop that sends its webhooks to us; sandbox/shopify.py)
    shopify_webhook_url: str = ""  # empty: the API of `webhook_url`, at /v1/webhooks/shopify
    shopify_secrets: dict[str, str] = field(
        default_factory=lambda: {"aftercare-demo.myshopify.com": "sandbox-shopify-secret"}
    )  # shop domain -> the secret it signs with
    shopify_orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # order id -> Order JSON
    shopify_fulfillments: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> Fulfillment JSON
    shopify_deliveries: list[dict[str, Any]] = field(default_factory=list)  # what was sent, and the answer
    # ids keep growing across restarts and resets, as Shopify's do: a journey id is never reused
    shopify_next_id: int = field(default_factory=lambda: int(time.time() * 1_000_000))
    # SMTP
    emails: list[ReceivedEmail] = field(default_factory=list)
    smtp_fail_next: list[dict[str, Any]] = field(default_factory=list)
    # plumbing
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    tasks: set[asyncio.Task[Any]] = field(default_factory=set, repr=False)

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a background job (webhook retries, scripts) that shutdown can cancel."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def push_url(self, provider: str) -> str:
        """Where `provider`'s pushes go: its own URL if set, else the EasyPost webhook URL with the provider's
        name in place of `easypost` (`/v1/carriers/shippo/events`), else that URL as is (a sink)."""
        if provider in self.push_urls:
            return self.push_urls[provider]
        return self.webhook_url.replace("/carriers/easypost/", f"/carriers/{provider}/")

    def callback_url(self, provider: str) -> str:
        """Where a messaging `provider`'s delivery callbacks go: its own URL if set, else the API's
        `/v1/providers/{provider}/events` beside the carrier webhook URL, else that URL as is (a sink)."""
        if provider in self.callback_urls:
            return self.callback_urls[provider]
        head, found, _ = self.webhook_url.partition("/v1/carriers/")
        return f"{head}/v1/providers/{provider}/events" if found else self.webhook_url

    def add_email(self, email: ReceivedEmail) -> ReceivedEmail:
        """Keep `email`, numbered after the last one kept (its `id` is set here, under the lock: the SMTP sink's
        thread and the mail APIs' handlers add at once)."""
        with self.lock:
            email.id = self.emails[-1].id + 1 if self.emails else 1
            self.emails.append(email)
        return email

    def take_smtp_failure(self, stage: str) -> dict[str, Any] | None:
        """The next scripted SMTP failure if it is for `stage` (rcpt, data, disconnect_after_data)."""
        with self.lock:
            if self.smtp_fail_next and self.smtp_fail_next[0]["stage"] == stage:
                return self.smtp_fail_next.pop(0)
        return None

    def load_stripe(self) -> None:
        """Read back the Stripe objects a previous run kept (a missing file is a first start)."""
        if self.stripe_state_file is None or not self.stripe_state_file.exists():
            return
        kept = json.loads(self.stripe_state_file.read_text())
        with self.lock:
            for name in STRIPE_KEPT:
                getattr(self, name).update(kept.get(name, {}))

    def save_stripe(self) -> None:
        """Write the Stripe objects atomically, readable by this user only (they name payments and amounts)."""
        path = self.stripe_state_file
        if path is None:
            return
        with self.lock:
            text = json.dumps({name: getattr(self, name) for name in STRIPE_KEPT})
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        part = path.with_name(path.name + ".part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(text)
        os.replace(part, path)

    def clear_outbox(self) -> None:
        with self.lock:
            self.emails.clear()
            self.texts.clear()
            self.api_requests.clear()

    def reset(self) -> None:
        """Forget everything received and every scripted failure; keeps addresses and secrets."""
        for task in list(self.tasks):
            task.cancel()
        with self.lock:
            for name in (
                "emails",
                "texts",
                "events",
                "deliveries",
                "webhook_sink",
                "smtp_fail_next",
                "twilio_fail_next",
                "easypost_fail_next",
                "shippo_fail_next",
                "seventeentrack_fail_next",
                "stripe_fail_next",
                "callbacks",
                "aftership_fail_next",
                "shopify_deliveries",
            ):
                getattr(self, name).clear()
            for mapping in (self.shipments, *(getattr(self, name) for name in STRIPE_KEPT)):
                mapping.clear()
            self.stripe_in_flight.clear()
            self.trackers.clear()
            self.aftership_trackings.clear()
            self.shippo_tracks.clear()
            self.seventeentrack_tracks.clear()
            self.shopify_orders.clear()
            self.shopify_fulfillments.clear()
            self.tracker_ids.clear()
            self.scripts.clear()
            self.twilio_opted_out.clear()
            for name in ("orders", "deliveries", "next_id"):  # keeps its delivery URL, secret and site
                self.woocommerce.pop(name, None)
            self.callback_next.clear()
            for vendor_state in (self.api_requests, self.api_fail_next, self.api_refused, self.api_revoked_keys):
                vendor_state.clear()
            self.sink_fail_next = 0
        self.save_stripe()

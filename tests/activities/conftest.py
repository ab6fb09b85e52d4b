"""Fixtures for activity tests: recording MessageSenders, a real Store on a temporary SQLite file,
the real templates, the template context the workflow sends, and a sandbox (SMTP sink, Twilio) for
the real connectors."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from activities.messaging import MessagingActivities
from activities.templates import TemplateRenderer
from connectors.messaging import Endpoints, MessageSender, build_sender
from connectors.messaging.base import OutgoingMessage, SendReceipt
from domain import Channel, MessageRequest, Step
from sandbox import RunningSandbox, run_sandbox
from storage import Store

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = REPO_ROOT / "templates"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MakeRequest = Callable[..., MessageRequest]  # the make_request fixture

CONTEXT: dict[str, Any] = {
    "merchant": {"name": "Acme Coffee", "support_email": "help@acme.example"},
    "customer": {"first_name": "Ada"},
    "order": {
        "id": "1001",
        "total": "59.90",
        "currency": "EUR",
        "items": [
            {"id": "li-1", "sku": "MUG-BLUE", "name": "Blue mug", "quantity": 2},
            {"id": "li-2", "sku": "BEANS", "name": "Coffee beans", "quantity": 1},
        ],
    },
    "shipment": {
        "carrier": "ups",
        "tracking_number": "1Z0001",
        "tracking_url": "https://track.example/1Z0001",
        "status": "in_transit",
        "estimated_delivery": "2026-11-25T18:00:00Z",
    },
    "delay": {"kind": "stalled", "level": 1, "detail": ""},
    "item": {"id": "li-1", "sku": "MUG-BLUE", "name": "Blue mug"},
    "reorder": {"sku": "BEANS", "name": "Coffee beans"},
    "links": {
        "review": "https://acme.example/review/li-1",
        "reorder": "https://acme.example/reorder/BEANS",
        "tracking": "https://acme.example/track/1001",
        "support": "https://acme.example/help",
    },
    "refund": {"amount": "19.95", "currency": "EUR"},
    "exchange": {"label_url": "https://labels.example/RMA-1", "bonus": "free express shipping"},
}


@dataclass
class FakeSender:
    """Records every call; `script` holds exceptions to raise on the next calls, in order."""

    channel: Channel
    provider: str = "FakeProvider"
    script: list[Exception] = field(default_factory=list)
    calls: list[OutgoingMessage] = field(default_factory=list)
    delivered: list[OutgoingMessage] = field(default_factory=list)

    async def send(self, message: OutgoingMessage) -> SendReceipt:
        self.calls.append(message)
        if self.script:
            raise self.script.pop(0)
        self.delivered.append(message)
        return SendReceipt(provider_message_id=f"fake-{len(self.calls)}", accepted_at=datetime.now(UTC))


@pytest.fixture(scope="session")
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """The sandbox's SMTP sink and Twilio on free ports, for the real connectors."""
    async with run_sandbox("127.0.0.1", 0, 0, "http://unused", "test-webhook-secret") as running:
        yield running


@pytest.fixture
async def control(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """Controls of this directory's own sandbox, reset for each test."""
    async with httpx.AsyncClient(base_url=sandbox.http_url, timeout=5) as client:
        (await client.post("/_sandbox/reset")).raise_for_status()
        yield client


@pytest.fixture
def build(sandbox: RunningSandbox, http: httpx.AsyncClient) -> Callable[..., MessageSender]:
    """build_sender against this directory's sandbox: its SMTP sink, Twilio, SendGrid, Postmark and WhatsApp."""
    endpoints = Endpoints(
        smtp_host=sandbox.smtp_host,
        smtp_port=sandbox.smtp_port,
        twilio_base_url=sandbox.twilio_base_url,
        sendgrid_base_url=sandbox.sendgrid_base_url,
        postmark_base_url=sandbox.postmark_base_url,
        whatsapp_base_url=sandbox.whatsapp_base_url,
    )
    return partial(build_sender, endpoints=endpoints, http=http)


@pytest.fixture
def renderer() -> TemplateRenderer:
    return TemplateRenderer(TEMPLATES)


@pytest.fixture
def senders() -> dict[Channel, FakeSender]:
    return {channel: FakeSender(channel) for channel in Channel}


@pytest.fixture
def messaging(store: Store, senders: dict[Channel, FakeSender], renderer: TemplateRenderer) -> MessagingActivities:
    return MessagingActivities(store, senders, renderer)


def make_request(
    key: str = "order-acme-1001:confirmation:email",
    *,
    step: Step = Step.CONFIRMATION,
    channel: Channel = Channel.EMAIL,
    requested_at: datetime = T0,
    recipient: str | None = "ada@example.com",
    **extra: Any,
) -> MessageRequest:
    return MessageRequest.model_validate(
        {
            "idempotency_key": key,
            "merchant_id": "acme",
            "order_id": "1001",
            "customer_id": "c-1",
            "step": step,
            "channel": channel,
            "recipient": recipient,
            "locale": "en",
            "requested_at": requested_at,
            "context": CONTEXT,
            "policy_hash": "sha256:test",
            **extra,
        }
    )


@pytest.fixture(name="make_request")
def _make_request_fixture() -> MakeRequest:
    """Builder for MessageRequests with a full template context (keyword overrides)."""
    return make_request


@pytest.fixture(name="context")
def _context_fixture() -> dict[str, Any]:
    """The full template context the workflow sends (a deep copy per test)."""
    import copy

    return copy.deepcopy(CONTEXT)

"""The loop a merchant sees in the demo: a message goes out through the sandbox's provider, the sandbox reports
what became of it with the vendor's signed callback, and the API, checking the signature as in production, records
it on the outbox row. Real sockets all the way (sandbox -> API on a free port)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from temporalio.testing import ActivityEnvironment

from activities.messaging import MessagingActivities
from activities.senders import SenderBook
from activities.templates import TemplateRenderer
from api.app import create_app
from api.services import Services
from connectors.messaging import Endpoints, build_sender
from connectors.messaging.callbacks import CallbackSecrets, build_callbacks
from domain import Channel, MessageRequest, Step
from domain.delivery import DeliveryStatus
from sandbox import RunningSandbox
from sandbox.state import POSTMARK_WEBHOOK_PASSWORD, POSTMARK_WEBHOOK_USER, WHATSAPP_APP_SECRET
from storage import Store, SuppressionReason
from tests.activities.conftest import make_request

REPO_ROOT = Path(__file__).resolve().parents[2]
TWILIO = {"account_sid": "ACloop0000000000000000000000000000", "auth_token": "loop-token"}
PROVIDERS = ("sendgrid", "postmark", "twilio", "whatsapp_cloud")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
async def api_url(sandbox: RunningSandbox, control: httpx.AsyncClient, store: Store) -> AsyncIterator[str]:
    """The API on a free port, with the secrets the embedded stack hands it; the sandbox's callbacks go to it."""
    public_key = (await control.get("/_sandbox/sendgrid/verification-key")).json()["public_key"]
    secrets = CallbackSecrets(sendgrid_public_key=public_key, postmark_user=POSTMARK_WEBHOOK_USER,
                              postmark_password=POSTMARK_WEBHOOK_PASSWORD, twilio_auth_token=TWILIO["auth_token"],
                              whatsapp_app_secret=WHATSAPP_APP_SECRET)  # fmt: skip
    services = Services(store=store, temporal=None, policies={}, carriers={}, task_queue="t",  # type: ignore[arg-type]
                        callbacks=build_callbacks(secrets))  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))  # fmt: skip
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    sandbox.state.callback_urls.update({p: f"{url}/v1/providers/{p}/events" for p in PROVIDERS})
    try:
        yield url
    finally:
        for provider in PROVIDERS:
            sandbox.state.callback_urls.pop(provider, None)
        server.should_exit = True
        await serving


@pytest.fixture
def messaging(sandbox: RunningSandbox, http: httpx.AsyncClient, store: Store) -> MessagingActivities:
    endpoints = Endpoints(twilio_base_url=sandbox.twilio_base_url, sendgrid_base_url=sandbox.sendgrid_base_url,
                          postmark_base_url=sandbox.postmark_base_url)  # fmt: skip
    defaults = {"sendgrid": {"api_key": "SG.loop"}, "twilio": TWILIO}
    book = SenderBook({}, partial(build_sender, endpoints=endpoints, http=http), default_credentials=defaults)
    return MessagingActivities(store, book, TemplateRenderer(REPO_ROOT / "templates"))


def request(key: str, channel: Channel, provider: str, recipient: str, **extra: Any) -> MessageRequest:
    sender = "+15555550100" if channel is Channel.SMS else "orders@acme.example"
    return make_request(key, step=Step.SHIPPED, channel=channel, recipient=recipient, sender=sender, provider=provider,
                        **extra)  # fmt: skip


async def settled(store: Store, key: str, status: DeliveryStatus) -> None:
    for _ in range(100):
        row = store.get_message(key)
        if row is not None and row.delivery_status is status:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{key}: delivery status {row.delivery_status if row else None}, expected {status}")


async def test_a_bounce_the_sandbox_reports_suppresses_the_address(api_url, messaging, store, control) -> None:
    (await control.post("/_sandbox/sendgrid/next-callback", json={"outcome": "bounced"})).raise_for_status()
    req = request("loop-1:shipped:email", Channel.EMAIL, "sendgrid", "gone@example.com")

    await ActivityEnvironment().run(messaging.send_message, req)

    await settled(store, req.idempotency_key, DeliveryStatus.BOUNCED)
    assert store.get_suppression(Channel.EMAIL, "gone@example.com") is SuppressionReason.BOUNCED
    [posted] = (await control.get("/_sandbox/sendgrid/callbacks")).json()["callbacks"]
    assert posted["attempts"][-1]["status_code"] == 200  # the API took the signature as SendGrid's


async def test_an_sms_is_delivered_by_twilios_status_callbacks(api_url, messaging, store, control) -> None:
    req = request("loop-1:shipped:sms", Channel.SMS, "twilio", "+15555550123")

    outcome = await ActivityEnvironment().run(messaging.send_message, req)

    await settled(store, req.idempotency_key, DeliveryStatus.DELIVERED)
    row = store.get_message(req.idempotency_key)
    assert row is not None and row.provider_message_id == outcome.provider_message_id

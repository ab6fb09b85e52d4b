"""What providers' delivery callbacks change for the next message: a SendGrid bounce suppresses the next
(marketing) email, a spam complaint only marketing ones, an unsubscribe opts the customer out."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.testing import ActivityEnvironment

from activities.messaging import MessagingActivities
from api.app import create_app
from api.services import Services
from connectors.messaging.callbacks import CallbackSecrets, build_callbacks
from connectors.messaging.sendgrid.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from domain import Channel, MessageOutcome, MessageRequest, MessageStatus, SkipReason, Step
from storage import Store
from tests.activities.conftest import T0

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
MakeRequest = Callable[..., MessageRequest]


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    services = Services(
        store=store,
        temporal=None,  # type: ignore[arg-type]
        policies={},
        carriers={},
        task_queue="t",
        callbacks=build_callbacks(CallbackSecrets(sendgrid_public_key=PUBLIC_KEY)),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://t") as c:
        yield c


async def send(messaging: MessagingActivities, req: MessageRequest) -> MessageOutcome:
    return await ActivityEnvironment().run(messaging.send_message, req)


async def sendgrid_says(api: httpx.AsyncClient, event: str, provider_id: str, **extra: object) -> None:
    """SendGrid's signed Event Webhook reporting `event` for the message the send answered `provider_id` for."""
    body = json.dumps(
        [
            {
                "email": "ada@example.com",
                "timestamp": 1795000000,
                "event": event,
                "sg_event_id": f"{event}-1",
                "sg_message_id": f"{provider_id}.filterdrecv-5645d9c87f-6qwxr-1-5F5F7C1A-1.0",
                **extra,
            }
        ]
    ).encode()
    headers = {SIGNATURE_HEADER: sign(body, "1795000001", KEY), TIMESTAMP_HEADER: "1795000001"}
    resp = await api.post("/v1/providers/sendgrid/events", content=body, headers=headers)
    assert resp.status_code == 200, resp.text


def review_request(make_request: MakeRequest, n: int) -> MessageRequest:
    return make_request(
        f"order-acme-1001:review_request:email:{n}",
        step=Step.REVIEW_REQUEST,
        requested_at=T0 + timedelta(days=20 + n),
        marketing=True,
    )


async def test_a_sendgrid_bounce_suppresses_the_next_marketing_email(
    messaging: MessagingActivities, senders: dict, api: httpx.AsyncClient, make_request: MakeRequest
) -> None:
    confirmation = await send(messaging, make_request())
    assert confirmation.status is MessageStatus.SENT and confirmation.provider_message_id == "fake-1"

    await sendgrid_says(api, "bounce", "fake-1", type="bounce", reason="550 5.1.1 no such user", status="5.1.1")

    skipped = await send(messaging, review_request(make_request, 1))
    assert (skipped.status, skipped.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    assert "bounced" in skipped.detail
    assert len(senders[Channel.EMAIL].calls) == 1  # nothing more went to the provider


async def test_a_complaint_stops_marketing_but_not_the_orders_own_news(
    messaging: MessagingActivities, senders: dict, api: httpx.AsyncClient, make_request: MakeRequest
) -> None:
    await send(messaging, make_request())
    await sendgrid_says(api, "spamreport", "fake-1")

    skipped = await send(messaging, review_request(make_request, 1))
    assert (skipped.status, skipped.skip_reason) == (MessageStatus.SKIPPED, SkipReason.SUPPRESSED)
    shipped = await send(messaging, make_request("order-acme-1001:shipped:email", step=Step.SHIPPED))
    assert shipped.status is MessageStatus.SENT
    assert [m.idempotency_key for m in senders[Channel.EMAIL].calls] == [
        "order-acme-1001:confirmation:email",
        "order-acme-1001:shipped:email",
    ]


async def test_an_unsubscribe_opts_the_customer_out(
    messaging: MessagingActivities, senders: dict, api: httpx.AsyncClient, make_request: MakeRequest
) -> None:
    await send(messaging, make_request())
    await sendgrid_says(api, "unsubscribe", "fake-1")

    skipped = await send(messaging, make_request("order-acme-1001:shipped:email", step=Step.SHIPPED))
    assert (skipped.status, skipped.skip_reason) == (MessageStatus.SKIPPED, SkipReason.OPTED_OUT)
    assert len(senders[Channel.EMAIL].calls) == 1

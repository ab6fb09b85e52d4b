"""`/v1/providers/{provider}/events` over HTTP: each vendor's request as it sends it, what it stores, what it
refuses (and then stores nothing), ordering and repeats, and an answer that never says which messages exist."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import REGISTRY

from api.app import create_app
from api.services import Services
from connectors.messaging.callbacks import CallbackSecrets, build_callbacks
from connectors.messaging.postmark.webhook import basic_auth
from connectors.messaging.sendgrid.webhook import SIGNATURE_HEADER as SG_SIGNATURE
from connectors.messaging.sendgrid.webhook import TIMESTAMP_HEADER as SG_TIMESTAMP
from connectors.messaging.sendgrid.webhook import sign as sendgrid_sign
from connectors.messaging.twilio.webhook import SIGNATURE_HEADER as TWILIO_SIGNATURE
from connectors.messaging.twilio.webhook import form
from connectors.messaging.twilio.webhook import sign as twilio_sign
from connectors.messaging.whatsapp_cloud.webhook import SIGNATURE_HEADER as WA_SIGNATURE
from connectors.messaging.whatsapp_cloud.webhook import sign as whatsapp_sign
from domain import Channel, MessageRequest, Step
from domain.delivery import DeliveryStatus
from storage import OutboxStatus, Store, SuppressionReason
from tests.connectors.callback_fixtures import raw

KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
SECRETS = CallbackSecrets(
    sendgrid_public_key=PUBLIC_KEY,
    postmark_user="pm-user",
    postmark_password="pm-pass",
    twilio_auth_token="twilio-token",
    whatsapp_app_secret="meta-secret",
    whatsapp_verify_token="meta-verify",
)
PUBLIC_BASE = "https://aftercare.example.com"  # what the providers call; the test client is http://test
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
EMAIL_KEY = "order-acme-1001:confirmation:email"


def callback_api(store: Store) -> httpx.AsyncClient:
    """The API as the providers' callbacks meet it: their secrets configured, no Temporal needed."""
    services = Services(
        store=store,
        temporal=None,  # type: ignore[arg-type]  # callbacks never talk to Temporal
        policies={},
        carriers={},
        task_queue="t",
        callbacks=build_callbacks(SECRETS),
        public_base_url=PUBLIC_BASE,
    )
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(services)), base_url="http://test")


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with callback_api(store) as client:
        yield client


def sent(
    store: Store, key: str, provider_id: str, channel: Channel = Channel.EMAIL, recipient: str = "example@test.com"
) -> None:
    """A message the journey sent and the provider accepted with `provider_id`."""
    store.claim_message(
        MessageRequest.model_validate(
            {
                "idempotency_key": key,
                "merchant_id": "acme",
                "order_id": "1001",
                "customer_id": "c-1",
                "step": Step.CONFIRMATION,
                "channel": channel,
                "recipient": recipient,
                "locale": "en",
                "requested_at": T0,
                "policy_hash": "sha256:test",
            }
        )
    )
    store.mark_sending(key)
    store.mark_sent(key, provider_id, T0)


def sendgrid_body(*events: dict[str, object]) -> bytes:
    return json.dumps(list(events)).encode()


def sendgrid_event(event: str, n: int, sg_message_id: str = "14c5d75ce93.dfd.64b469.filter0001.0", **extra: object):
    return {
        "email": "example@test.com",
        "timestamp": 1513299569 + n,
        "event": event,
        "sg_event_id": f"ev-{n}",
        "sg_message_id": sg_message_id,
        **extra,
    }


async def post_sendgrid(api: httpx.AsyncClient, body: bytes, timestamp: str = "1513299600") -> httpx.Response:
    headers = {SG_SIGNATURE: sendgrid_sign(body, timestamp, KEY), SG_TIMESTAMP: timestamp}
    return await api.post("/v1/providers/sendgrid/events", content=body, headers=headers)


def count(provider: str, outcome: str) -> float:
    return REGISTRY.get_sample_value("aftercare_provider_events_total", {"provider": provider, "outcome": outcome}) or 0


async def test_sendgrids_published_batch_is_applied_in_order(api: httpx.AsyncClient, store: Store) -> None:
    sent(store, EMAIL_KEY, "14c5d75ce93")
    resp = await post_sendgrid(api, raw("sendgrid", "event_batch.json"))
    assert resp.status_code == 200 and resp.json() == {"provider": "sendgrid", "events": 10}
    row = store.get_message(EMAIL_KEY)
    # processed..group_unsubscribe in one batch: the last and strongest stands
    assert row is not None and row.delivery_status is DeliveryStatus.UNSUBSCRIBED
    # the bounce came first and stops everything already; the unsubscribe does not change a full stop
    assert store.get_suppression(Channel.EMAIL, "example@test.com") is SuppressionReason.BOUNCED


async def test_a_late_delivered_does_not_overwrite_bounced_and_a_repeat_changes_nothing(
    api: httpx.AsyncClient, store: Store
) -> None:
    sent(store, EMAIL_KEY, "14c5d75ce93")
    bounce = sendgrid_body(sendgrid_event("bounce", 2, type="bounce", reason="550 no such user", status="5.1.1"))
    assert (await post_sendgrid(api, bounce)).status_code == 200
    first = store.get_message(EMAIL_KEY)
    assert first is not None and first.delivery_status is DeliveryStatus.BOUNCED
    assert store.get_suppression(Channel.EMAIL, "example@test.com") is SuppressionReason.BOUNCED

    before = count("sendgrid", "unchanged")
    assert (await post_sendgrid(api, sendgrid_body(sendgrid_event("delivered", 1)))).status_code == 200
    assert (await post_sendgrid(api, bounce)).status_code == 200  # SendGrid retrying the same POST
    assert store.get_message(EMAIL_KEY) == first
    assert count("sendgrid", "unchanged") == before + 2


async def test_an_unknown_message_gets_the_same_answer_and_is_counted(api: httpx.AsyncClient, store: Store) -> None:
    sent(store, EMAIL_KEY, "14c5d75ce93")
    known = await post_sendgrid(api, sendgrid_body(sendgrid_event("delivered", 1)))
    before = count("sendgrid", "unmatched")
    unknown = await post_sendgrid(api, sendgrid_body(sendgrid_event("delivered", 1, sg_message_id="nobody.x")))
    assert (unknown.status_code, unknown.json()) == (known.status_code, known.json())
    assert count("sendgrid", "unmatched") == before + 1
    assert store.get_suppression(Channel.EMAIL, "example@test.com") is None


async def test_a_bad_signature_is_401_and_stores_nothing(api: httpx.AsyncClient, store: Store) -> None:
    sent(store, EMAIL_KEY, "14c5d75ce93")
    body = sendgrid_body(sendgrid_event("bounce", 1))
    forged = sendgrid_body(sendgrid_event("spamreport", 1))
    headers = {SG_SIGNATURE: sendgrid_sign(body, "1513299600", KEY), SG_TIMESTAMP: "1513299600"}
    resp = await api.post("/v1/providers/sendgrid/events", content=forged, headers=headers)
    assert resp.status_code == 401 and "bad signature" in resp.text
    resp = await api.post("/v1/providers/sendgrid/events", content=body)
    assert resp.status_code == 401 and "missing X-Twilio-Email-Event-Webhook-Signature" in resp.text
    row = store.get_message(EMAIL_KEY)
    assert row is not None and row.delivery_status is None
    assert store.get_suppression(Channel.EMAIL, "example@test.com") is None


async def test_malformed_or_truncated_is_400_naming_the_problem(api: httpx.AsyncClient, store: Store) -> None:
    sent(store, EMAIL_KEY, "14c5d75ce93")
    whole = raw("sendgrid", "event_batch.json")
    resp = await post_sendgrid(api, whole[: len(whole) // 2])
    assert resp.status_code == 400 and "malformed JSON" in resp.text
    resp = await post_sendgrid(api, b'[{"event": "bounce", "timestamp": 1513299569}, {"timestamp": 1}]')
    assert resp.status_code == 400 and "event 1 has no 'event'" in resp.text
    row = store.get_message(EMAIL_KEY)
    assert row is not None and row.delivery_status is None  # the good first event was not applied either


async def test_unknown_provider_is_404(api: httpx.AsyncClient) -> None:
    resp = await api.post("/v1/providers/mailchimp/events", content=b"[]")
    assert resp.status_code == 404 and "known: postmark, sendgrid, twilio, whatsapp_cloud" in resp.text


async def test_an_unconfigured_provider_is_503(store: Store) -> None:
    services = Services(
        store=store,
        temporal=None,
        policies={},
        carriers={},
        task_queue="t",  # type: ignore[arg-type]
        callbacks=build_callbacks(CallbackSecrets()),
    )
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as api:
        body = raw("postmark", "delivery.json")
        resp = await api.post("/v1/providers/postmark/events", content=body, headers={"Authorization": "Basic eDp5"})
    assert resp.status_code == 503 and "AFTERCARE_POSTMARK_WEBHOOK_USER" in resp.text


async def test_postmark_with_the_credentials_from_its_webhook_url(api: httpx.AsyncClient, store: Store) -> None:
    sent(store, EMAIL_KEY, "883953f4-6105-42a2-a16a-77a8eac79483", recipient="john@example.com")
    url = "/v1/providers/postmark/events"
    wrong = {"Authorization": basic_auth("pm-user", "guess")}
    assert (await api.post(url, content=raw("postmark", "spam_complaint.json"), headers=wrong)).status_code == 401
    assert store.get_suppression(Channel.EMAIL, "john@example.com") is None

    auth = {"Authorization": basic_auth("pm-user", "pm-pass")}
    for fixture in ("delivery.json", "open.json", "spam_complaint.json", "click.json"):
        assert (await api.post(url, content=raw("postmark", fixture), headers=auth)).status_code == 200
    row = store.get_message(EMAIL_KEY)
    assert row is not None and row.delivery_status is DeliveryStatus.COMPLAINED  # the click came after: lower
    assert store.get_suppression(Channel.EMAIL, "john@example.com") is SuppressionReason.NO_MARKETING


async def test_twilio_signed_for_the_public_url(api: httpx.AsyncClient, store: Store) -> None:
    sid = "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    sent(store, "order-acme-1001:shipped:sms", sid, Channel.SMS, "+15558675310")
    body = raw("twilio", "status_undelivered_landline.txt")
    path = "/v1/providers/twilio/events"
    as_seen_inside = {TWILIO_SIGNATURE: twilio_sign(f"http://test{path}", form(body), "twilio-token")}
    resp = await api.post(path, content=body, headers=as_seen_inside)
    assert resp.status_code == 401 and "AFTERCARE_PUBLIC_BASE_URL" in resp.text

    headers = {TWILIO_SIGNATURE: twilio_sign(f"{PUBLIC_BASE}{path}", form(body), "twilio-token")}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await api.post(path, content=body, headers=headers)).status_code == 200
    row = store.get_message("order-acme-1001:shipped:sms")
    assert row is not None and row.delivery_status is DeliveryStatus.BOUNCED
    assert store.get_suppression(Channel.SMS, "+15558675310") is SuppressionReason.BOUNCED


async def test_whatsapp_handshake_and_statuses(api: httpx.AsyncClient, store: Store) -> None:
    url = "/v1/providers/whatsapp_cloud/events"
    query = {"hub.mode": "subscribe", "hub.verify_token": "meta-verify", "hub.challenge": "1158201444"}
    resp = await api.get(url, params=query)
    assert (resp.status_code, resp.text) == (200, "1158201444")
    assert resp.headers["content-type"].startswith("text/plain")
    assert (await api.get(url, params=query | {"hub.verify_token": "guess"})).status_code == 403
    assert (await api.get("/v1/providers/sendgrid/events", params=query)).status_code == 405

    # a send left unconfirmed by a crash: WhatsApp's "sent" carries our key back and settles it
    key = "order-acme-1001:shipped:whatsapp"
    sent(store, key, "unused", Channel.WHATSAPP, "+16505553333")
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE messages SET provider_message_id = NULL, detail = 'unconfirmed: crash'")
    for fixture in ("status_sent.json", "status_read.json", "status_delivered.json"):
        body = raw("whatsapp_cloud", fixture)
        resp = await api.post(url, content=body, headers={WA_SIGNATURE: whatsapp_sign(body, "meta-secret")})
        assert resp.status_code == 200
    row = store.get_message(key)
    assert row is not None and row.status is OutboxStatus.SENT
    assert row.provider_message_id == "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
    assert row.detail == "confirmed by whatsapp_cloud's delivery callback (sent)"
    assert row.delivery_status is DeliveryStatus.OPENED  # read, then a late delivered: still read


async def test_a_signed_event_with_oversized_fields_is_cut_not_a_crash(api: httpx.AsyncClient, store: Store) -> None:
    sent(store, EMAIL_KEY, "14c5d75ce93")
    huge = sendgrid_event("bounce", 1, type="x" * 5000, reason="r" * 5000, sg_event_id="e" * 5000)
    resp = await post_sendgrid(api, sendgrid_body(huge))
    assert resp.status_code == 200  # every field is cut to what we keep
    row = store.get_message(EMAIL_KEY)
    assert row is not None and row.delivery_status is DeliveryStatus.BOUNCED
    assert row.delivery_detail is not None and len(row.delivery_detail) < 700
    assert store.get_suppression(Channel.EMAIL, "example@test.com") is None  # an undocumented bounce type

"""Delivery callbacks of merchants on their own provider accounts: `?merchant_id=` picks the merchant's own secret
(named in its policy, read from the API's environment), its events touch its own messages only, and a merchant we
do not know (or whose variable is missing) gets exactly a bad signature's answer."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

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
from policies.loader import PolicyError, load_policy_text
from storage import Store

PUBLIC_BASE = "https://aftercare.example.com"
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, base64.b64encode(der).decode()


SHARED_KEY, SHARED_PUBLIC = key_pair()  # the operator's SendGrid account (process-wide)
ACME_KEY, ACME_PUBLIC = key_pair()  # Acme's own SendGrid account
ENV = {
    "ACME_SENDGRID_KEY": "SG.acme",
    "ACME_SENDGRID_WEBHOOK_KEY": ACME_PUBLIC,
    "ACME_TWILIO_SID": "ACacme",
    "ACME_TWILIO_TOKEN": "acme-twilio-token",
    "BEANS_POSTMARK_TOKEN": "beans-token",
    "BEANS_POSTMARK_HOOK_USER": "beans-hook",
    "BEANS_POSTMARK_HOOK_PASSWORD": "beans-hook-password",
    "BEANS_META_SECRET": "beans-app-secret",
    "BEANS_META_VERIFY": "beans-verify",
}


def policy(merchant: str, channels: str) -> str:
    return f"""
version: 1
merchant: {{id: {merchant}, name: {merchant.title()}, timezone: UTC}}
channels:
{channels}
steps:
  confirmation: {{channels: [email]}}
"""


ACME = policy("acme", """
  email:
    provider: sendgrid
    sender: orders@acme.example
    credentials_env: {api_key: ACME_SENDGRID_KEY}
    webhook_secret_env: {public_key: ACME_SENDGRID_WEBHOOK_KEY}
  sms:
    provider: twilio
    sender: "+15555550100"
    credentials_env: {account_sid: ACME_TWILIO_SID, auth_token: ACME_TWILIO_TOKEN}
""")  # fmt: skip
BEANS = policy("beans", """
  email:
    provider: postmark
    sender: hi@beans.example
    credentials_env: {server_token: BEANS_POSTMARK_TOKEN}
    webhook_secret_env: {user: BEANS_POSTMARK_HOOK_USER, password: BEANS_POSTMARK_HOOK_PASSWORD}
  whatsapp:
    provider: whatsapp_cloud
    sender: "106540352242922"
    webhook_secret_env: {app_secret: BEANS_META_SECRET, verify_token: BEANS_META_VERIFY}
""")  # fmt: skip
GHOST = policy("ghost", """
  email:
    provider: sendgrid
    sender: hi@ghost.example
    webhook_secret_env: {public_key: GHOST_SENDGRID_WEBHOOK_KEY}
""")  # fmt: skip
SHARED = policy("plain", """
  email: {provider: sendgrid, sender: hi@plain.example}
""")  # fmt: skip


@pytest.fixture
async def api(store: Store, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    for name, value in ENV.items():  # the API's environment holds the merchants' callback secrets
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GHOST_SENDGRID_WEBHOOK_KEY", raising=False)
    policies = {m: load_policy_text(text, f"{m}.yaml") for m, text in
                (("acme", ACME), ("beans", BEANS), ("ghost", GHOST), ("plain", SHARED))}  # fmt: skip
    services = Services(
        store=store,
        temporal=None,  # type: ignore[arg-type]  # callbacks never talk to Temporal
        policies=policies,
        carriers={},
        task_queue="t",
        callbacks=build_callbacks(CallbackSecrets(sendgrid_public_key=SHARED_PUBLIC, twilio_auth_token="shared-token")),
        public_base_url=PUBLIC_BASE,
    )
    transport = httpx.ASGITransport(app=create_app(services))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def sent(store: Store, merchant: str, key: str, provider_id: str, channel: Channel = Channel.EMAIL) -> None:
    store.claim_message(MessageRequest.model_validate({
        "idempotency_key": key, "merchant_id": merchant, "order_id": "1001", "customer_id": "c-1",
        "step": Step.CONFIRMATION, "channel": channel,
        "recipient": "+15558675310" if channel is not Channel.EMAIL else "ada@example.com",
        "locale": "en", "requested_at": T0, "policy_hash": "sha256:test",
    }))  # fmt: skip
    store.mark_sending(key)
    store.mark_sent(key, provider_id, T0)


def bounce(key: str) -> bytes:
    event = {"email": "ada@example.com", "timestamp": 1513299569, "event": "bounce", "type": "bounce",
             "sg_event_id": f"ev-{key}", "sg_message_id": "sg-1.filter0001", "aftercare_key": key}  # fmt: skip
    return json.dumps([event]).encode()


async def post_sendgrid(
    api: httpx.AsyncClient, body: bytes, key: ec.EllipticCurvePrivateKey, query: str
) -> httpx.Response:
    headers = {SG_SIGNATURE: sendgrid_sign(body, "1513299600", key), SG_TIMESTAMP: "1513299600"}
    return await api.post(f"/v1/providers/sendgrid/events{query}", content=body, headers=headers)


async def test_a_merchants_callback_is_checked_with_its_own_key(api, store) -> None:
    sent(store, "acme", "acme-1:confirmation:email", "sg-1")

    own = await post_sendgrid(api, bounce("acme-1:confirmation:email"), ACME_KEY, "?merchant_id=acme")
    shared_key = await post_sendgrid(api, bounce("acme-1:confirmation:email"), SHARED_KEY, "?merchant_id=acme")

    assert own.status_code == 200
    assert shared_key.status_code == 401  # the operator's key does not speak for Acme's account
    row = store.get_message("acme-1:confirmation:email")
    assert row is not None and row.delivery_status is DeliveryStatus.BOUNCED


async def test_an_unknown_merchant_is_answered_exactly_like_a_bad_signature(api, store) -> None:
    body = bounce("acme-1:confirmation:email")
    wrong_signature = await post_sendgrid(api, body, SHARED_KEY, "?merchant_id=acme")
    unknown = await post_sendgrid(api, body, ACME_KEY, "?merchant_id=nobody-here")
    odd = await post_sendgrid(api, body, ACME_KEY, "?merchant_id=" + "x" * 300)
    unset = await post_sendgrid(api, body, ACME_KEY, "?merchant_id=ghost")  # its variable is not on the API

    for answer in (unknown, odd, unset):
        assert (answer.status_code, answer.json()) == (401, wrong_signature.json())
    assert "nobody" not in unknown.text and "ghost" not in unset.text


async def test_one_merchants_key_cannot_touch_anothers_messages(api, store) -> None:
    sent(store, "plain", "plain-1:confirmation:email", "sg-2")

    answer = await post_sendgrid(api, bounce("plain-1:confirmation:email"), ACME_KEY, "?merchant_id=acme")

    assert answer.status_code == 200  # accepted, as any callback about a message we do not know
    row = store.get_message("plain-1:confirmation:email")
    assert (
        row is not None
        and row.delivery_status is None
        and store.get_suppression(Channel.EMAIL, "ada@example.com") is None
    )


async def test_a_merchant_without_its_own_secret_uses_the_process_wide_one(api, store) -> None:
    sent(store, "plain", "plain-1:confirmation:email", "sg-2")
    assert (
        await post_sendgrid(api, bounce("plain-1:confirmation:email"), SHARED_KEY, "?merchant_id=plain")
    ).status_code == 200
    assert (
        await post_sendgrid(api, bounce("plain-1:confirmation:email"), ACME_KEY, "?merchant_id=plain")
    ).status_code == 401


async def test_twilio_callbacks_are_checked_with_the_merchants_own_auth_token(api, store) -> None:
    sent(store, "acme", "acme-1:shipped:sms", "SM1f0e8ae6ade43cb3c0ce4525424e404f", Channel.SMS)
    body = (b"SmsSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&SmsStatus=delivered&MessageStatus=delivered"
            b"&To=%2B15558675310&MessageSid=SM1f0e8ae6ade43cb3c0ce4525424e404f&AccountSid=ACacme"
            b"&From=%2B15555550100&ApiVersion=2010-04-01")  # fmt: skip
    url = f"{PUBLIC_BASE}/v1/providers/twilio/events?merchant_id=acme"

    def post(token: str) -> object:
        headers = {
            TWILIO_SIGNATURE: twilio_sign(url, form(body), token),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        return api.post("/v1/providers/twilio/events?merchant_id=acme", content=body, headers=headers)

    assert (await post("shared-token")).status_code == 401
    assert (await post("acme-twilio-token")).status_code == 200
    row = store.get_message("acme-1:shipped:sms")
    assert row is not None and row.delivery_status is DeliveryStatus.DELIVERED


async def test_postmark_and_whatsapp_with_a_merchants_own_secrets(api, store) -> None:
    sent(store, "beans", "beans-1:confirmation:email", "883953f4-6105-42a2-a16a-77a8eac79483")
    record = {"RecordType": "Delivery", "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
              "Recipient": "ada@example.com", "DeliveredAt": "2019-11-05T16:33:54.9070259Z",
              "Metadata": {"aftercare_key": "beans-1:confirmation:email"}}  # fmt: skip
    postmark = "/v1/providers/postmark/events?merchant_id=beans"
    good = await api.post(
        postmark, json=record, headers={"Authorization": basic_auth("beans-hook", "beans-hook-password")}
    )
    bad = await api.post(postmark, json=record, headers={"Authorization": basic_auth("beans-hook", "guess")})
    assert (good.status_code, bad.status_code) == (200, 401)

    payload = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    whatsapp = "/v1/providers/whatsapp_cloud/events?merchant_id=beans"
    signed = await api.post(
        whatsapp, content=payload, headers={WA_SIGNATURE: whatsapp_sign(payload, "beans-app-secret")}
    )
    assert signed.status_code == 200
    query = {"merchant_id": "beans", "hub.mode": "subscribe", "hub.verify_token": "beans-verify", "hub.challenge": "42"}
    handshake = await api.get("/v1/providers/whatsapp_cloud/events", params=query)
    assert (handshake.status_code, handshake.text) == (200, "42")
    assert (
        await api.get("/v1/providers/whatsapp_cloud/events", params=query | {"merchant_id": "zed"})
    ).status_code == 403


def test_a_policy_naming_secrets_its_provider_does_not_take_is_refused() -> None:
    wrong = policy("acme", """
  email:
    provider: sendgrid
    sender: orders@acme.example
    webhook_secret_env: {password: ACME_HOOK_PASSWORD}
""")  # fmt: skip
    with pytest.raises(PolicyError) as refused:
        load_policy_text(wrong, "acme.yaml")
    text = str(refused.value)
    assert "channels.email.webhook_secret_env.password: sendgrid callbacks are verified with public_key" in text
    with pytest.raises(PolicyError) as pasted:
        load_policy_text(wrong.replace("ACME_HOOK_PASSWORD", "hunter2-secret"), "acme.yaml")
    assert "channels.email.webhook_secret_env.password: must name an environment variable" in str(pasted.value)
    assert "hunter2" not in str(pasted.value)

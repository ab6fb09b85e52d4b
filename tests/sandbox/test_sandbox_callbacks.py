"""The messaging stand-ins report what became of each message they took, as the vendors do: delivery callbacks
signed each vendor's way, checked here by our own verifiers (each connector's `webhook.py`), over real sockets.

Sent through the real connectors; the callbacks land in the sandbox's own receiver (the session sandbox's
webhook URL), from which the tests read headers and body as posted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from connectors.messaging import PostmarkSender, SendGridSender, TwilioSender, WhatsAppCloudSender
from connectors.messaging.base import OutgoingMessage, OutgoingTemplate
from connectors.messaging.callbacks import CallbackRefused
from connectors.messaging.postmark import webhook as postmark
from connectors.messaging.sendgrid import webhook as sendgrid
from connectors.messaging.twilio import webhook as twilio
from connectors.messaging.whatsapp_cloud import webhook as whatsapp
from domain import Channel
from domain.delivery import DeliveryStatus, Suppress
from sandbox import RunningSandbox

ACCOUNT, TOKEN = "ACcallbacks00000000000000000000000", "callbacks-auth-token"
POSTMARK_USER, POSTMARK_PASSWORD = "sandbox-postmark", "sandbox-postmark-webhook-password"
APP_SECRET = "sandbox-whatsapp-app-secret"
KEY = "order-acme-1001:shipped:email"


def email(key: str = KEY) -> OutgoingMessage:
    return OutgoingMessage(channel=Channel.EMAIL, recipient="ada@example.com", sender="Acme <orders@acme.example>",
                           text="Your order shipped", subject="Shipped", idempotency_key=key)  # fmt: skip


def text(channel: Channel, key: str) -> OutgoingMessage:
    template = OutgoingTemplate(name="order_shipped", language="en_US", parameters=["Ada"])
    return OutgoingMessage(channel=channel, recipient="+15555550123", sender="+15555550100", text="Shipped!",
                           idempotency_key=key, template=template if channel is Channel.WHATSAPP else None)  # fmt: skip


async def posted(control: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    """The first `count` callbacks the sandbox's receiver got (waits for them, a few seconds at most)."""
    for _ in range(100):
        got = (await control.get("/_sandbox/easypost/webhook-sink")).json()
        if len(got) >= count:
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} callbacks, got {len(got)}")


def raw(hook: dict[str, Any]) -> bytes:
    return hook["body"].encode()


async def test_sendgrid_events_are_signed_with_the_key_its_dashboard_shows(sandbox: RunningSandbox, control, http):
    key = (await control.get("/_sandbox/sendgrid/verification-key")).json()["public_key"]
    sender = SendGridSender(sandbox.sendgrid_base_url, "SG.callbacks", http)
    receipt = await sender.send(email())

    [hook] = await posted(control, 1)
    events = sendgrid.parse(raw(hook), hook["headers"], key)

    assert [e.vendor_event for e in events] == ["processed", "delivered"]
    assert [e.status for e in events] == [None, DeliveryStatus.DELIVERED]
    assert {e.idempotency_key for e in events} == {KEY}
    assert {e.provider_message_id for e in events} == {receipt.provider_message_id}
    with pytest.raises(CallbackRefused) as refused:  # one byte changed: the signature no longer holds
        sendgrid.parse(raw(hook).replace(b"delivered", b"deliverer"), hook["headers"], key)
    assert refused.value.kind == "signature"


async def test_sendgrid_next_send_bounces_when_told(sandbox: RunningSandbox, control, http):
    key = (await control.get("/_sandbox/sendgrid/verification-key")).json()["public_key"]
    (await control.post("/_sandbox/sendgrid/next-callback", json={"outcome": "bounced"})).raise_for_status()
    sender = SendGridSender(sandbox.sendgrid_base_url, "SG.callbacks", http)
    await sender.send(email())
    await sender.send(email("order-acme-1001:delivered:email"))

    first, second = await posted(control, 2)
    bounced = sendgrid.parse(raw(first), first["headers"], key)[-1]
    assert (bounced.vendor_event, bounced.status, bounced.suppress) == (
        "bounce (bounce)",
        DeliveryStatus.BOUNCED,
        Suppress.BOUNCED,
    )
    assert sendgrid.parse(raw(second), second["headers"], key)[-1].status is DeliveryStatus.DELIVERED


async def test_postmark_records_carry_basic_auth(sandbox: RunningSandbox, control, http):
    (await control.post("/_sandbox/postmark/next-callback", json={"outcome": "complained"})).raise_for_status()
    receipt = await PostmarkSender(sandbox.postmark_base_url, "callbacks-token", http).send(email())

    delivery, complaint = await posted(control, 2)
    [delivered] = postmark.parse(raw(delivery), delivery["headers"], POSTMARK_USER, POSTMARK_PASSWORD)
    [complained] = postmark.parse(raw(complaint), complaint["headers"], POSTMARK_USER, POSTMARK_PASSWORD)

    assert (delivered.status, delivered.idempotency_key, delivered.provider_message_id) == (
        DeliveryStatus.DELIVERED, KEY, receipt.provider_message_id)  # fmt: skip
    assert (complained.status, complained.suppress) == (DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING)
    with pytest.raises(CallbackRefused) as refused:
        postmark.parse(raw(delivery), delivery["headers"], POSTMARK_USER, "another-password")
    assert refused.value.kind == "signature"


async def test_twilio_status_callbacks_are_signed_with_the_accounts_auth_token(sandbox: RunningSandbox, control, http):
    url = sandbox.state.callback_url("twilio")  # the sandbox's receiver in this session
    receipt = await TwilioSender(Channel.SMS, sandbox.twilio_base_url, ACCOUNT, TOKEN, http).send(
        text(Channel.SMS, "acme-1001:shipped:sms")
    )

    sent, delivered = await posted(control, 2)
    events = [twilio.parse(url, raw(h), h["headers"], TOKEN)[0] for h in (sent, delivered)]

    assert [(e.vendor_event, e.status) for e in events] == [("sent", None), ("delivered", DeliveryStatus.DELIVERED)]
    assert {e.provider_message_id for e in events} == {receipt.provider_message_id}
    with pytest.raises(CallbackRefused):
        twilio.parse(url, raw(sent), sent["headers"], "another-token")


async def test_twilio_posts_to_the_status_callback_the_message_names(sandbox: RunningSandbox, control, http):
    callback = f"{sandbox.http_url}/_sandbox/easypost/webhook-sink"  # as `{public base}/v1/providers/twilio/events`
    (await control.post("/_sandbox/twilio/next-callback", json={"outcome": "bounced"})).raise_for_status()
    sender = TwilioSender(Channel.SMS, sandbox.twilio_base_url, ACCOUNT, TOKEN, http, status_callback=callback)
    # a merchant on its own Twilio account: the callback names it, to be checked with its own auth token
    await sender.send(text(Channel.SMS, "acme-1001:shipped:sms").model_copy(update={"callback_merchant": "acme"}))

    [hook] = await posted(control, 1)
    url = f"{callback}?merchant_id=acme"
    [event] = twilio.parse(url, raw(hook), hook["headers"], TOKEN)  # signed over the URL with its query

    assert (event.vendor_event, event.status, event.suppress) == (
        "undelivered (30005)",
        DeliveryStatus.BOUNCED,
        Suppress.BOUNCED,
    )
    [taken] = [r for r in sandbox.state.callbacks if r["vendor"] == "twilio"]
    assert taken["url"] == url and taken["attempts"][-1]["status_code"] == 200


async def test_whatsapp_statuses_are_signed_with_the_app_secret(sandbox: RunningSandbox, control, http):
    (await control.post("/_sandbox/whatsapp/next-callback", json={"outcome": "failed"})).raise_for_status()
    sender = WhatsAppCloudSender(sandbox.whatsapp_base_url, "callbacks-token", http, phone_number_id="106540352242922")
    receipt = await sender.send(text(Channel.WHATSAPP, "acme-1001:shipped:whatsapp"))

    [hook] = await posted(control, 1)
    [event] = whatsapp.parse(raw(hook), hook["headers"], APP_SECRET)

    assert (event.status, event.idempotency_key, event.provider_message_id) == (
        DeliveryStatus.FAILED, "acme-1001:shipped:whatsapp", receipt.provider_message_id)  # fmt: skip
    with pytest.raises(CallbackRefused):
        whatsapp.parse(raw(hook), hook["headers"], "another-secret")


async def test_none_loses_the_callback_and_unknown_outcomes_are_refused(sandbox: RunningSandbox, control, http):
    (await control.post("/_sandbox/postmark/next-callback", json={"outcome": "none"})).raise_for_status()
    await PostmarkSender(sandbox.postmark_base_url, "callbacks-token", http).send(email())
    complaint = await control.post("/_sandbox/twilio/next-callback", json={"outcome": "complained"})
    unknown = await control.post("/_sandbox/smtp/next-callback", json={"outcome": "bounced"})

    await asyncio.sleep(0.4)
    assert (await control.get("/_sandbox/easypost/webhook-sink")).json() == []
    assert complaint.status_code == 422 and "twilio callbacks cannot say complained" in complaint.json()["error"]
    assert unknown.status_code == 404

"""TwilioSender against the sandbox's Twilio: what the customer's phone would get, and the errors."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from connectors.messaging import build_sender
from connectors.messaging.base import OutgoingMessage
from connectors.messaging.twilio import CONFIGURATION_CODES, RECIPIENT_CODES, TwilioSender
from domain import Channel
from sandbox import RunningSandbox
from tests.connectors.sender_kit import fail_next, messaging_error, outgoing

SID = "AC" + "1" * 32
TOKEN = "test-auth-token"


def text(channel: Channel = Channel.SMS, **overrides: object) -> OutgoingMessage:
    return outgoing(
        {
            "channel": channel,
            "recipient": "+15551234567",
            "sender": "+15005550006",
            "text": "Acme: your parcel is out for delivery today.",
            "idempotency_key": "shipment-easypost-1Z:status_update:sms",
        },
        overrides,
    )


@pytest.fixture
async def sms(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[TwilioSender]:
    sender = TwilioSender(Channel.SMS, sandbox.twilio_base_url, SID, TOKEN, http=http, timeout=2)
    yield sender
    await sender.aclose()


@pytest.fixture
async def whatsapp(sandbox: RunningSandbox, http: httpx.AsyncClient) -> AsyncIterator[TwilioSender]:
    sender = TwilioSender(Channel.WHATSAPP, sandbox.twilio_base_url, SID, TOKEN, http=http, timeout=2)
    yield sender
    await sender.aclose()


async def test_sms_reaches_the_recipient_with_the_body(sms, sandbox, control):
    receipt = await sms.send(text())

    [got] = sandbox.state.texts
    assert receipt.provider_message_id == got["sid"] and got["sid"].startswith("SM")
    assert got["to"] == "+15551234567" and got["from"] == "+15005550006"
    assert got["body"] == "Acme: your parcel is out for delivery today."
    assert got["channel"] == "sms" and got["account_sid"] == SID


async def test_whatsapp_goes_to_whatsapp_addresses(whatsapp, sandbox, control):
    receipt = await whatsapp.send(text(Channel.WHATSAPP, text="Your parcel was delivered 📦"))

    [got] = sandbox.state.texts
    assert got["sid"] == receipt.provider_message_id
    assert got["to"] == "whatsapp:+15551234567" and got["from"] == "whatsapp:+15005550006"
    assert got["body"] == "Your parcel was delivered 📦" and got["channel"] == "whatsapp"


async def test_an_invalid_number_is_not_retryable_and_the_recipients_fault(sms, sandbox, control):
    err = await messaging_error(sms.send(text(recipient="555-1234")), "21211")
    assert err.retryable is False and err.maybe_sent is False
    assert "'To' number 555-1234 is not a valid phone number" in str(err)
    assert (err.recipient_fault, err.suppression) == (True, "bounced")
    assert sandbox.state.texts == []


async def test_an_unsubscribed_recipient_is_opted_out(sms, control: httpx.AsyncClient):
    await control.post("/_sandbox/twilio/opt-out", json={"number": "+15551234567"})
    err = await messaging_error(sms.send(text()), "21610")
    assert err.retryable is False
    assert (err.recipient_fault, err.suppression) == (True, "opted_out")


@pytest.mark.parametrize(
    ("code", "recipient_fault", "suppression"),
    [
        (21612, True, None),  # unreachable from this From: another sender may reach it
        (21614, True, "bounced"),  # a landline
        (63003, True, "bounced"),  # not on WhatsApp
        (63024, True, None),
        (21408, False, None),  # the account's Geo Permissions: the merchant's to change, not the customer's
        (21608, False, None),  # trial account
        (20005, False, None),  # account not active
        (21212, False, None),  # bad From
        (21606, False, None),
        (63007, False, None),  # no WhatsApp channel for the From
        (63016, False, None),
    ],
)
async def test_whose_fault_a_twilio_error_is(
    sms, sandbox, control: httpx.AsyncClient, code, recipient_fault, suppression
):
    await fail_next(control, "twilio", status_code=400, code=code, message="Refused")
    err = await messaging_error(sms.send(text()), f"Twilio error {code}: Refused")
    assert err.retryable is False and err.maybe_sent is False
    assert (err.recipient_fault, err.suppression) == (recipient_fault, suppression)
    assert sandbox.state.texts == []


def test_every_permanent_code_says_whose_fault_it_is():
    assert not CONFIGURATION_CODES.keys() & RECIPIENT_CODES.keys()


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_rate_limits_and_outages_are_retryable(sms, sandbox, control: httpx.AsyncClient, status):
    await fail_next(control, "twilio", status_code=status)
    err = await messaging_error(sms.send(text()), f"HTTP {status}")
    assert err.retryable is True and err.maybe_sent is False
    await sms.send(text())  # Twilio is back
    assert len(sandbox.state.texts) == 1


async def test_a_timeout_after_sending_is_maybe_sent(sandbox, control: httpx.AsyncClient):
    await fail_next(control, "twilio", status_code=201, delay_seconds=1)
    impatient = TwilioSender(Channel.SMS, sandbox.twilio_base_url, SID, TOKEN, timeout=0.2)
    err = await messaging_error(impatient.send(text()), "may have gone out")
    await impatient.aclose()
    assert err.maybe_sent is True
    assert len(sandbox.state.texts) == 1  # Twilio took it: a blind resend would double it


async def test_wrong_credentials_are_not_retryable_and_say_what_to_check(sandbox, control):
    wrong = TwilioSender(Channel.SMS, sandbox.twilio_base_url, SID, "")
    err = await messaging_error(wrong.send(text()), "20003")
    await wrong.aclose()
    assert err.retryable is False
    assert err.recipient_fault is False
    assert "Authenticate; authentication failed (check the Account SID and Auth Token)" in str(err)


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (text(sender=""), re.escape("no From number: set the policy's sms sender (channels.sms.sender)")),
        (text(Channel.WHATSAPP), "this Twilio sender sends sms, not whatsapp"),
    ],
)
async def test_a_missing_sender_or_wrong_channel_is_ours_to_fix(sms, sandbox, control, message, match):
    err = await messaging_error(sms.send(message), match)
    assert (err.retryable, err.recipient_fault) == (False, False)
    assert sandbox.state.texts == []


async def test_build_sender_picks_twilio_for_phones_and_refuses_nonsense(sandbox, control):
    common = {"smtp_host": sandbox.smtp_host, "smtp_port": sandbox.smtp_port,
              "twilio_base_url": sandbox.twilio_base_url}  # fmt: skip
    creds = {"account_sid": SID, "auth_token": TOKEN}
    sender = build_sender("whatsapp", "twilio", "+15005550006", creds, **common)
    assert isinstance(sender, TwilioSender) and sender.channel is Channel.WHATSAPP
    await sender.send(text(Channel.WHATSAPP, sender=""))
    assert sandbox.state.texts[0]["from"] == "whatsapp:+15005550006"
    await sender.aclose()

    with pytest.raises(ValueError, match="needs credentials auth_token"):
        build_sender(Channel.SMS, "twilio", None, {"account_sid": SID}, **common)
    with pytest.raises(ValueError, match="unknown messaging provider 'pigeon'"):
        build_sender(Channel.SMS, "pigeon", None, {}, **common)
    with pytest.raises(ValueError, match="sends email, not sms"):
        build_sender(Channel.SMS, "smtp", None, {}, **common)

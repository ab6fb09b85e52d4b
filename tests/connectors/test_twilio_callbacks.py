"""Twilio's status callbacks: X-Twilio-Signature over the URL and sorted form, the published form, the table."""

from __future__ import annotations

import pytest

from connectors.messaging.callbacks import CallbackRefused
from connectors.messaging.twilio.units_events import ERROR_CODES, STATUSES, map_status
from connectors.messaging.twilio.webhook import SIGNATURE_HEADER, form, parse, sign
from domain import Channel
from domain.delivery import DeliveryStatus, Suppress
from tests.connectors.callback_fixtures import assert_refused, raw

TOKEN = "12345-auth-token"
URL = "https://aftercare.example.com/v1/providers/twilio/events"


def signed(body: bytes, url: str = URL, token: str = TOKEN) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(url, form(body), token)}


def test_the_signature_matches_twilios_worked_example() -> None:
    """The example on Twilio's webhook security page: auth token 12345, this URL and these parameters."""
    params = [
        ("To", "+18005551212"),  # out of order on purpose: the signature sorts them by name
        ("CallSid", "CA1234567890ABCDE"),
        ("Digits", "1234"),
        ("From", "+12349013030"),
        ("Caller", "+12349013030"),
    ]
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign(url, params, "12345") == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    body = b"To=%2B18005551212&CallSid=CA1234567890ABCDE&Digits=1234&From=%2B12349013030&Caller=%2B12349013030"
    with pytest.raises(CallbackRefused, match="no MessageSid"):  # verified, then read: a voice callback
        parse(url, body, {SIGNATURE_HEADER: "0/KCTR6DLpKmkAf8muzZqo1nDgQ="}, "12345")


def test_a_delivered_sms() -> None:
    body = raw("twilio", "status_delivered.txt")
    [event] = parse(URL, body, signed(body), TOKEN)
    assert (event.status, event.suppress, event.vendor_event) == (
        DeliveryStatus.DELIVERED,
        Suppress.NOTHING,
        "delivered",
    )
    assert event.provider == "twilio" and event.channels == (Channel.SMS,)
    assert event.provider_message_id == "SM1f0e8ae6ade43cb3c0ce4525424e404f"
    assert event.recipient == "+15558675310" and event.idempotency_key is None


def test_an_undelivered_landline_is_a_bounce_that_suppresses() -> None:
    body = raw("twilio", "status_undelivered_landline.txt")
    [event] = parse(URL, body, signed(body), TOKEN)
    assert (event.status, event.suppress) == (DeliveryStatus.BOUNCED, Suppress.BOUNCED)
    assert event.vendor_event == "undelivered (30006)" and event.detail == "Twilio error 30006"


def test_sent_only_confirms_and_a_read_whatsapp_is_opened() -> None:
    body = raw("twilio", "status_sent.txt")
    [sent] = parse(URL, body, signed(body), TOKEN)
    assert sent.status is None
    body = raw("twilio", "status_whatsapp_read.txt")
    [read] = parse(URL, body, signed(body), TOKEN)
    assert (read.status, read.channels, read.recipient) == (DeliveryStatus.OPENED, (Channel.WHATSAPP,), "+15558675310")


def test_wrong_token_other_url_changed_params_or_no_header_are_refused() -> None:
    body = raw("twilio", "status_delivered.txt")
    for url, sent, headers, message in [
        (URL, body, signed(body, token="another-token"), "bad signature"),
        (URL, body, signed(body, url="http://internal:8000/v1/providers/twilio/events"), "AFTERCARE_PUBLIC_BASE_URL"),
        (URL, body.replace(b"delivered", b"undelivered"), signed(body), "bad signature"),
        (URL + "?x=1", body, signed(body), "bad signature"),
        (URL, body, {}, "missing X-Twilio-Signature"),
    ]:
        assert_refused("signature", message, parse, url, sent, headers, TOKEN)


def test_no_auth_token_is_a_configuration_problem() -> None:
    body = raw("twilio", "status_delivered.txt")
    assert_refused("unconfigured", "AFTERCARE_TWILIO_AUTH_TOKEN", parse, URL, body, signed(body), "")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"MessageStatus=delivered&To=%2B1555", "no MessageSid"),
        (b"MessageSid=SM1&To=%2B1555", "no MessageStatus"),
        (b"MessageSid=SM1&MessageStatus=failed&ErrorCode=abc", "ErrorCode must be a number"),
        (b"MessageSid=SM1&MessageStatus", "not a form-encoded"),
        (b"\xff=1", "not a form-encoded"),
    ],
)
def test_malformed_forms_name_the_problem(body: bytes, message: str) -> None:
    # inside the check: signing a body that is no form already refuses it, as parse would
    assert_refused("malformed", message, lambda: parse(URL, body, headers_for(body), TOKEN))


def headers_for(body: bytes) -> dict[str, str]:
    """The signature a malformed form comes with (over no parameters where the bytes are no UTF-8)."""
    return {SIGNATURE_HEADER: sign(URL, [], TOKEN)} if b"\xff" in body else signed(body)


@pytest.mark.parametrize("status", sorted(STATUSES))
def test_units_table_covers_every_status(status: str) -> None:
    assert map_status(status) == STATUSES[status]


@pytest.mark.parametrize("code", sorted(ERROR_CODES))
def test_units_table_covers_every_error_code(code: int) -> None:
    assert map_status("undelivered", code) == ERROR_CODES[code]
    assert map_status("failed", code) == ERROR_CODES[code]
    assert map_status("delivered", code) == STATUSES["delivered"]  # a code only refines a failure


def test_inbound_and_unknown_statuses_are_ignored() -> None:
    assert map_status("received") is None and map_status("receiving") is None and map_status("teleported") is None

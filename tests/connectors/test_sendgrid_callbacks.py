"""SendGrid's signed Event Webhook: ECDSA verification, the published event shapes, the units table."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connectors.messaging.callbacks import CallbackRefused
from connectors.messaging.sendgrid.units_events import BOUNCE_TYPES, EVENTS, map_event
from connectors.messaging.sendgrid.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    parse,
    provider_id,
    sign,
    verify,
)
from domain import Channel
from domain.delivery import DeliveryStatus, Suppress
from tests.connectors.callback_fixtures import assert_refused, raw

KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_KEY = ec.generate_private_key(ec.SECP256R1())
TIMESTAMP = "1513299600"


def public(key: ec.EllipticCurvePrivateKey) -> str:
    """The verification key as SendGrid's settings page shows it: base64 DER SubjectPublicKeyInfo."""
    der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def signed(body: bytes, key: ec.EllipticCurvePrivateKey = KEY, timestamp: str = TIMESTAMP) -> dict[str, str]:
    return {SIGNATURE_HEADER: sign(body, timestamp, key), TIMESTAMP_HEADER: timestamp}


def test_sendgrids_own_test_vector_verifies() -> None:
    """The key, signature, timestamp and payload SendGrid's eventwebhook helper library tests with."""
    key = (
        "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu"
        "/1FwCM/QmGUhA=="
    )
    signature = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0="
    payload = b'{"category":"example_payload","event":"test_event","message_id":"message_id"}'
    verify(payload, {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: "1588788367"}, key)
    with pytest.raises(CallbackRefused, match="bad signature"):
        verify(payload, {SIGNATURE_HEADER: signature, TIMESTAMP_HEADER: "1588788368"}, key)


def test_the_published_batch_maps_every_event_it_tracks() -> None:
    body = raw("sendgrid", "event_batch.json")
    events = parse(body, signed(body), public(KEY))
    got = [(e.vendor_event, e.status, e.suppress) for e in events]
    assert got == [
        ("processed", None, Suppress.NOTHING),
        ("deferred", DeliveryStatus.DEFERRED, Suppress.NOTHING),
        ("delivered", DeliveryStatus.DELIVERED, Suppress.NOTHING),
        ("open", DeliveryStatus.OPENED, Suppress.NOTHING),
        ("click", DeliveryStatus.CLICKED, Suppress.NOTHING),
        ("bounce (bounce)", DeliveryStatus.BOUNCED, Suppress.BOUNCED),
        ("dropped", DeliveryStatus.FAILED, Suppress.NOTHING),
        ("spamreport", DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING),
        ("unsubscribe", DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),
        ("group_unsubscribe", DeliveryStatus.UNSUBSCRIBED, Suppress.OPTED_OUT),
    ]  # group_resubscribe: not a delivery fact, left out
    bounce = events[5]
    assert bounce.provider == "sendgrid" and bounce.channels == (Channel.EMAIL,)
    assert bounce.provider_message_id == "14c5d75ce93"  # the send's X-Message-Id, without SendGrid's suffix
    assert bounce.idempotency_key == "order-acme-1001:confirmation:email"  # our custom_args, echoed
    assert bounce.event_id == "sg_event_id_05_bounce" and bounce.recipient == "example@test.com"
    assert bounce.occurred_at is not None and bounce.occurred_at.timestamp() == 1513299574
    assert "500 unknown recipient" in bounce.detail and "5.0.0" in bounce.detail


def test_a_blocked_bounce_is_a_bounce_that_does_not_suppress() -> None:
    body = raw("sendgrid", "bounce_blocked.json")
    [event] = parse(body, signed(body), public(KEY))
    assert (event.status, event.suppress, event.vendor_event) == (
        DeliveryStatus.BOUNCED,
        Suppress.NOTHING,
        "bounce (blocked)",
    )


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing X-Twilio-Email-Event-Webhook-Signature"),
        ({SIGNATURE_HEADER: "MEUCIQ=="}, "missing X-Twilio-Email-Event-Webhook-Timestamp"),
    ],
)
def test_missing_headers_are_refused(headers: dict[str, str], message: str) -> None:
    assert_refused("signature", message, parse, raw("sendgrid", "event_batch.json"), headers, public(KEY))


def test_a_signature_by_another_key_a_changed_body_or_timestamp_is_refused() -> None:
    body = raw("sendgrid", "event_batch.json")
    cases = [
        (body, signed(body, OTHER_KEY)),
        (body.replace(b"example@test.com", b"victim@test.com"), signed(body)),
        (body, signed(body) | {TIMESTAMP_HEADER: "1513299601"}),
        (body, {SIGNATURE_HEADER: "not base64!", TIMESTAMP_HEADER: TIMESTAMP}),
    ]
    for sent, headers in cases:
        assert_refused("signature", "bad signature", parse, sent, headers, public(KEY))


def test_no_key_or_a_broken_key_is_a_configuration_problem() -> None:
    body = raw("sendgrid", "event_batch.json")
    for key, message in (("", "set AFTERCARE_SENDGRID_WEBHOOK_PUBLIC_KEY"), ("bm90IGEga2V5", "not a base64 DER")):
        assert_refused("unconfigured", message, parse, body, signed(body), key)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"event": "delivered", "timestamp": 15132', "malformed JSON"),
        (b'{"event": "delivered"}', "must be a JSON array"),
        (b'["delivered"]', "event 0 is not a JSON object"),
        (b'[{"timestamp": 1513299569}]', "event 0 has no 'event'"),
        (b'[{"event": "delivered"}]', r"event 0 \(delivered\) has no 'timestamp'"),
        (b'[{"event": "delivered", "timestamp": "yesterday"}]', "event 0 timestamp must be a Unix timestamp"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_or_truncated_bodies_name_the_problem(body: bytes, message: str) -> None:
    assert_refused("malformed", message, parse, body, signed(body), public(KEY))


def test_an_event_without_our_key_is_found_by_the_message_id_alone() -> None:
    events = json.loads(raw("sendgrid", "event_batch.json"))
    del events[2]["aftercare_key"]
    body = json.dumps(events[2:3]).encode()
    [event] = parse(body, signed(body), public(KEY))
    assert event.idempotency_key is None and event.provider_message_id == "14c5d75ce93"


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_units_table_covers_every_event(event: str) -> None:
    assert map_event(event) == EVENTS[event]


@pytest.mark.parametrize("bounce_type", sorted(BOUNCE_TYPES))
def test_units_table_covers_every_bounce_type(bounce_type: str) -> None:
    assert map_event("bounce", bounce_type) == BOUNCE_TYPES[bounce_type]


def test_a_bounce_without_type_is_hard_and_an_undocumented_type_does_not_suppress() -> None:
    assert map_event("bounce") == (DeliveryStatus.BOUNCED, Suppress.BOUNCED)
    assert map_event("bounce", "greylisted") == (DeliveryStatus.BOUNCED, Suppress.NOTHING)


def test_unknown_events_are_ignored_not_errors() -> None:
    assert map_event("group_resubscribe") is None and map_event("machine_opened_someday") is None


def test_provider_id_is_the_send_answers_message_id() -> None:
    assert provider_id("W-yN7f3ZRyCTUs4c8K_Yvg.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0") == (
        "W-yN7f3ZRyCTUs4c8K_Yvg"
    )
    assert provider_id("W-yN7f3ZRyCTUs4c8K_Yvg") == "W-yN7f3ZRyCTUs4c8K_Yvg"

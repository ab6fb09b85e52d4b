"""Postmark's webhooks: basic auth from the webhook URL, every published record type, the bounce table."""

from __future__ import annotations

import pytest

from connectors.messaging.postmark.units_events import (
    BOUNCE_CODES,
    BOUNCE_TYPES,
    IGNORED_BOUNCE_TYPES,
    SUPPRESSION_REASONS,
    map_bounce,
    map_subscription_change,
)
from connectors.messaging.postmark.webhook import basic_auth, parse
from domain import Channel
from domain.delivery import DeliveryStatus, Suppress
from tests.connectors.callback_fixtures import assert_refused, raw

USER, PASSWORD = "postmark-hooks", "s3cret-pass"
AUTH = {"Authorization": basic_auth(USER, PASSWORD)}


@pytest.mark.parametrize(
    ("fixture", "status", "suppress", "vendor_event"),
    [
        ("delivery.json", DeliveryStatus.DELIVERED, Suppress.NOTHING, "Delivery"),
        ("bounce_hard.json", DeliveryStatus.BOUNCED, Suppress.BOUNCED, "Bounce (HardBounce)"),
        ("bounce_soft.json", DeliveryStatus.BOUNCED, Suppress.NOTHING, "Bounce (SoftBounce)"),
        ("bounce_transient.json", DeliveryStatus.DEFERRED, Suppress.NOTHING, "Bounce (Transient)"),
        ("spam_complaint.json", DeliveryStatus.COMPLAINED, Suppress.NO_MARKETING, "SpamComplaint"),
        ("open.json", DeliveryStatus.OPENED, Suppress.NOTHING, "Open"),
        ("click.json", DeliveryStatus.CLICKED, Suppress.NOTHING, "Click"),
        (
            "subscription_change.json",
            DeliveryStatus.UNSUBSCRIBED,
            Suppress.OPTED_OUT,
            "SubscriptionChange (ManualSuppression)",
        ),
    ],
)
def test_each_published_record_maps_to_ours(
    fixture: str, status: DeliveryStatus, suppress: Suppress, vendor_event: str
) -> None:
    [event] = parse(raw("postmark", fixture), AUTH, USER, PASSWORD)
    assert (event.status, event.suppress, event.vendor_event) == (status, suppress, vendor_event)
    assert event.provider == "postmark" and event.channels == (Channel.EMAIL,)
    assert event.provider_message_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert event.idempotency_key == "order-acme-1001:confirmation:email"  # our Metadata, echoed
    assert event.recipient == "john@example.com"
    assert event.occurred_at is not None and event.occurred_at.tzinfo is not None


def test_a_bounce_keeps_postmarks_id_and_words() -> None:
    [event] = parse(raw("postmark", "bounce_hard.json"), AUTH, USER, PASSWORD)
    assert event.event_id == "Bounce:4323372036854775807"
    assert event.detail == "Test bounce details"
    assert event.occurred_at is not None and event.occurred_at.isoformat() == "2019-11-05T16:33:54.907025+00:00"


def test_a_reactivation_is_accepted_and_changes_nothing() -> None:
    assert parse(raw("postmark", "subscription_reactivated.json"), AUTH, USER, PASSWORD) == []


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing basic auth"),
        ({"Authorization": "Bearer abc"}, "missing basic auth"),
        ({"Authorization": "Basic !!!"}, "malformed basic auth"),
        ({"Authorization": basic_auth(USER, "guess")}, "wrong basic auth"),
        ({"Authorization": basic_auth("someone", PASSWORD)}, "wrong basic auth"),
    ],
)
def test_missing_or_wrong_credentials_are_refused(headers: dict[str, str], message: str) -> None:
    assert_refused("signature", message, parse, raw("postmark", "delivery.json"), headers, USER, PASSWORD)


def test_unset_credentials_are_a_configuration_problem() -> None:
    assert_refused(
        "unconfigured", "AFTERCARE_POSTMARK_WEBHOOK_USER", parse, raw("postmark", "delivery.json"), AUTH, USER, ""
    )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (raw("postmark", "delivery.json")[:60], "malformed JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"MessageID": "x"}', "no RecordType"),
        (b'{"RecordType": "Delivery", "MessageID": 7}', "MessageID must be a string"),
        (b'{"RecordType": "Delivery", "MessageID": "x", "DeliveredAt": "last week"}', "DeliveredAt is not an ISO"),
        (b'{"RecordType": "Delivery", "MessageID": "x", "DeliveredAt": "2019-11-05T16:33:54"}', "no timezone"),
        (b'{"RecordType": "SubscriptionChange", "MessageID": "x"}', "SuppressSending"),
    ],
)
def test_malformed_or_truncated_records_name_the_problem(body: bytes, message: str) -> None:
    assert_refused("malformed", message, parse, body, AUTH, USER, PASSWORD)


def test_record_types_we_do_not_track_are_ignored() -> None:
    assert parse(b'{"RecordType": "Inbound", "MessageID": "x"}', AUTH, USER, PASSWORD) == []


@pytest.mark.parametrize("bounce_type", sorted(BOUNCE_TYPES))
def test_bounce_table_by_name(bounce_type: str) -> None:
    assert map_bounce(bounce_type, None) == BOUNCE_TYPES[bounce_type]


@pytest.mark.parametrize("code", sorted(BOUNCE_CODES))
def test_bounce_table_by_type_code(code: int) -> None:
    assert map_bounce("SomethingNew", code) == BOUNCE_TYPES[BOUNCE_CODES[code]]


@pytest.mark.parametrize("bounce_type", sorted(IGNORED_BOUNCE_TYPES))
def test_bounces_that_are_not_about_delivery_are_ignored(bounce_type: str) -> None:
    assert map_bounce(bounce_type, None) is None


@pytest.mark.parametrize("reason", sorted(SUPPRESSION_REASONS))
def test_subscription_changes(reason: str) -> None:
    assert map_subscription_change(True, reason) == SUPPRESSION_REASONS[reason]
    assert map_subscription_change(False, reason) is None

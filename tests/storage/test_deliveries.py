"""Providers' delivery callbacks on the outbox: found by our key or the provider's id, ordered, idempotent,
settling unconfirmed sends, suppressing addresses without ever weakening a suppression."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from domain import Channel, MessageRequest
from domain.delivery import DeliveryEvent, DeliveryStatus, Suppress
from storage import OutboxStatus, Store, SuppressionReason

MakeRequest = Callable[..., MessageRequest]
NOW = datetime(2026, 11, 22, 13, 0, tzinfo=UTC)
KEY = "order-acme-1001:confirmation:email"


def event(status: DeliveryStatus | None, *, n: int = 0, **fields: object) -> DeliveryEvent:
    values: dict[str, object] = {
        "provider": "sendgrid",
        "channels": (Channel.EMAIL,),
        "event_id": f"ev-{n}",
        "provider_message_id": "sg-1",
        "vendor_event": status.value if status else "processed",
        "status": status,
        "occurred_at": NOW + timedelta(minutes=n),
    }
    return DeliveryEvent.model_validate(values | fields)


def sent(store: Store, make_request: MakeRequest, key: str = KEY, provider_id: str = "sg-1", **kw: object) -> None:
    store.claim_message(make_request(key, **kw))
    store.mark_sending(key)
    store.mark_sent(key, provider_id, NOW)


def test_found_by_provider_id_and_recorded(store: Store, make_request: MakeRequest) -> None:
    sent(store, make_request)
    done = store.record_delivery(event(DeliveryStatus.DELIVERED, n=1, detail="250 OK"), NOW)
    assert (done.matched, done.changed, done.confirmed, done.suppressed) == (True, True, False, None)
    row = store.get_message(KEY)
    assert row is not None and row.delivery_status is DeliveryStatus.DELIVERED
    assert row.delivery_at == NOW + timedelta(minutes=1)
    assert row.delivery_detail == "sendgrid: delivered — 250 OK"


def test_found_by_our_key_when_the_provider_id_differs(store: Store, make_request: MakeRequest) -> None:
    sent(store, make_request, provider_id="something-else")
    done = store.record_delivery(event(DeliveryStatus.OPENED, idempotency_key=KEY), NOW)
    assert done.matched and done.changed


def test_a_message_of_no_row_or_of_another_channel_is_unmatched(store: Store, make_request: MakeRequest) -> None:
    sent(store, make_request)
    assert not store.record_delivery(event(DeliveryStatus.DELIVERED, provider_message_id="nobody"), NOW).matched
    sms = event(DeliveryStatus.DELIVERED, channels=(Channel.SMS,), idempotency_key=KEY)
    assert not store.record_delivery(sms, NOW).matched


def test_status_only_moves_up_late_and_repeated_events_change_nothing(store: Store, make_request: MakeRequest) -> None:
    sent(store, make_request)
    assert store.record_delivery(event(DeliveryStatus.BOUNCED, n=2), NOW).changed
    assert not store.record_delivery(event(DeliveryStatus.DELIVERED, n=1), NOW).changed  # late
    assert not store.record_delivery(event(DeliveryStatus.BOUNCED, n=2), NOW).changed  # repeated
    assert not store.record_delivery(event(DeliveryStatus.DEFERRED, n=0), NOW).changed
    row = store.get_message(KEY)
    assert row is not None and (row.delivery_status, row.delivery_at) == (
        DeliveryStatus.BOUNCED,
        NOW + timedelta(minutes=2),
    )
    assert store.record_delivery(event(DeliveryStatus.UNSUBSCRIBED, n=3), NOW).changed


def test_an_unconfirmed_send_is_confirmed_by_a_callback_carrying_our_key(
    store: Store, make_request: MakeRequest
) -> None:
    store.claim_message(make_request(KEY))
    store.mark_sending(KEY)
    store.mark_unconfirmed(KEY, NOW, "unconfirmed: previous attempt was interrupted during the provider call")
    done = store.record_delivery(event(None, idempotency_key=KEY, provider_message_id="sg-9"), NOW)
    assert done.matched and done.confirmed and not done.changed
    row = store.get_message(KEY)
    assert row is not None
    assert (row.status, row.provider_message_id, row.sent_at) == (OutboxStatus.SENT, "sg-9", NOW)
    assert row.detail == "confirmed by sendgrid's delivery callback (processed)"
    # the next event finds it by the provider's id alone, and a second confirmation changes nothing
    assert store.record_delivery(event(DeliveryStatus.DELIVERED, provider_message_id="sg-9", n=1), NOW).changed
    assert not store.record_delivery(event(None, idempotency_key=KEY, provider_message_id="sg-9"), NOW).confirmed


def test_a_row_left_sending_is_confirmed_too(store: Store, make_request: MakeRequest) -> None:
    store.claim_message(make_request(KEY))
    store.mark_sending(KEY)
    done = store.record_delivery(event(DeliveryStatus.DELIVERED, idempotency_key=KEY, provider_message_id="sg-2"), NOW)
    assert done.confirmed and done.changed
    row = store.get_message(KEY)
    assert row is not None and (row.status, row.provider_message_id, row.delivery_status) == (
        OutboxStatus.SENT,
        "sg-2",
        DeliveryStatus.DELIVERED,
    )


def test_skipped_or_failed_messages_take_no_delivery_status(store: Store, make_request: MakeRequest) -> None:
    store.claim_message(make_request(KEY))
    store.mark_failed(KEY, "provider failed, will retry")
    done = store.record_delivery(event(DeliveryStatus.DELIVERED, idempotency_key=KEY, provider_message_id=None), NOW)
    assert done.matched and not done.changed and not done.confirmed
    row = store.get_message(KEY)
    assert row is not None and row.delivery_status is None and row.status is OutboxStatus.FAILED


def test_a_hard_bounce_suppresses_the_rows_address(store: Store, make_request: MakeRequest) -> None:
    sent(store, make_request, recipient="Ada@Example.com")
    bounce = event(DeliveryStatus.BOUNCED, suppress=Suppress.BOUNCED, recipient="someone-else@example.com")
    assert store.record_delivery(bounce, NOW).suppressed is SuppressionReason.BOUNCED
    assert store.get_suppression(Channel.EMAIL, "ada@example.com") is SuppressionReason.BOUNCED
    assert store.get_suppression(Channel.EMAIL, "someone-else@example.com") is None  # the row's address counts


def test_a_suppression_only_gets_stronger(store: Store, make_request: MakeRequest) -> None:
    sent(store, make_request)
    complaint = event(DeliveryStatus.COMPLAINED, suppress=Suppress.NO_MARKETING, n=1)
    assert store.record_delivery(complaint, NOW).suppressed is SuppressionReason.NO_MARKETING
    unsubscribe = event(DeliveryStatus.UNSUBSCRIBED, suppress=Suppress.OPTED_OUT, n=2)
    assert store.record_delivery(unsubscribe, NOW).suppressed is SuppressionReason.OPTED_OUT
    again = event(DeliveryStatus.COMPLAINED, suppress=Suppress.NO_MARKETING, n=3, event_id="ev-other")
    assert store.record_delivery(again, NOW).suppressed is SuppressionReason.OPTED_OUT
    assert store.get_suppression(Channel.EMAIL, "ada@example.com") is SuppressionReason.OPTED_OUT

"""The Store's contract, on SQLite and PostgreSQL alike (see conftest: every test runs on both)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from domain import Channel, Shipment, SkipReason, Step, TrackingEvent, TrackingStatus
from storage import (
    AWAITING_HANDOVER,
    OutboxStatus,
    ShipmentConflictError,
    Store,
    SuppressionReason,
    UnknownOrderError,
    tables,
)
from tests.storage.conftest import T0, MakeOrder, MakeRequest


def run_together(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(0..n-1) in n threads released at the same instant: the closest we get to a real race."""
    barrier = threading.Barrier(n)

    def go(i: int) -> Any:
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(go, range(n)))


def event(event_id: str, minutes: int, status: TrackingStatus = TrackingStatus.IN_TRANSIT, **kw: Any) -> TrackingEvent:
    return TrackingEvent(
        event_id=event_id,
        carrier=kw.pop("carrier", "ups"),
        tracking_number=kw.pop("tracking_number", "1Z0001"),
        status=status,
        occurred_at=T0 + timedelta(minutes=minutes),
        **kw,
    )


# -- orders ------------------------------------------------------------------------------------------


def test_record_order_is_idempotent(store: Store, make_order: MakeOrder) -> None:
    order = make_order()
    assert store.record_order(order, {"id": 1001, "source": "webhook"}) is True
    assert store.record_order(order, {"id": 1001, "source": "webhook again"}) is False

    assert store.get_order("acme", "1001") == order
    assert store.get_raw_order("acme", "1001") == {"id": 1001, "source": "webhook"}
    assert store.get_order("acme", "nope") is None
    assert store.get_order("other", "1001") is None


def test_repeated_order_changes_nothing_but_a_new_order_refreshes_the_customer(
    store: Store, make_order: MakeOrder
) -> None:
    store.record_order(make_order("1001", email="old@example.com", marketing_consent=False), {})
    assert store.record_order(make_order("1001", email="changed@example.com"), {}) is False
    customer = store.get_customer("acme", "c-1")
    assert customer is not None and customer.email == "old@example.com"

    assert store.record_order(make_order("1002", email="new@example.com", marketing_consent=True), {}) is True
    customer = store.get_customer("acme", "c-1")
    assert customer is not None
    assert (customer.email, customer.marketing_consent, customer.first_name) == ("new@example.com", True, "Ada")


def test_record_order_creates_the_merchant_and_upsert_merchant_updates_it(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order(), {})
    assert store.get_merchant("acme") == ("acme", None)
    store.upsert_merchant("acme", "Acme Coffee", "sha256:aaa")
    store.upsert_merchant("acme", "Acme Coffee Co.", "sha256:bbb")
    assert store.get_merchant("acme") == ("Acme Coffee Co.", "sha256:bbb")
    store.record_order(make_order("1002"), {})  # does not overwrite the name with the id
    assert store.get_merchant("acme") == ("Acme Coffee Co.", "sha256:bbb")
    assert store.get_merchant("nobody") is None


def test_concurrent_duplicate_webhooks_record_the_order_once(store: Store, make_order: MakeOrder) -> None:
    order = make_order()
    results = run_together(8, lambda i: store.record_order(order, {"copy": i}))
    assert sorted(results) == [False] * 7 + [True]
    assert store.get_order("acme", "1001") == order


def test_orders_of_different_merchants_do_not_collide(store: Store, make_order: MakeOrder) -> None:
    assert store.record_order(make_order("1001", merchant_id="acme"), {})
    assert store.record_order(make_order("1001", merchant_id="bravo"), {})
    bravo = store.get_order("bravo", "1001")
    assert bravo is not None and bravo.merchant_id == "bravo"


def test_merchants_with_order_finds_every_merchant_using_an_order_id(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order("1001", merchant_id="bravo"), {})
    store.record_order(make_order("1001", merchant_id="acme"), {})
    store.record_order(make_order("1002", merchant_id="acme"), {})
    assert store.merchants_with_order("1001") == ["acme", "bravo"]
    assert store.merchants_with_order("1002") == ["acme"]
    assert store.merchants_with_order("9999") == []


def test_customer_orders_with_skus_finds_earlier_orders_sharing_a_sku(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order("1001", placed_at=T0), {})  # MUG-BLUE, BEANS
    store.record_order(make_order("1002", placed_at=T0 + timedelta(days=1)), {})
    store.record_order(make_order("1003", customer_id="c-2"), {})
    store.record_order(make_order("1004", merchant_id="bravo"), {})

    assert store.customer_orders_with_skus("acme", "c-1", ["BEANS", "TEA"], "1002") == [
        ("1001", "order~acme~1001", ["BEANS"])
    ]
    assert store.customer_orders_with_skus("acme", "c-1", {"BEANS", "MUG-BLUE"}) == [
        ("1001", "order~acme~1001", ["BEANS", "MUG-BLUE"]),
        ("1002", "order~acme~1002", ["BEANS", "MUG-BLUE"]),
    ]
    assert store.customer_orders_with_skus("acme", "c-1", ["TEA"]) == []
    assert store.customer_orders_with_skus("acme", "c-1", []) == []


def test_ping(store: Store) -> None:
    store.ping()


# -- shipments ---------------------------------------------------------------------------------------


def test_shipments_are_recorded_once_and_found_by_tracking_number(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order(), {})
    parcel = Shipment(
        carrier="ups",
        tracking_number="1Z0001",
        items={"li-1": 2},
        shipped_at=T0,
        tracking_url="https://track.example/1Z0001",
    )
    second = Shipment(carrier="dhl", tracking_number="JD0002")
    assert store.record_shipment("acme", "1001", parcel) is True
    assert store.record_shipment("acme", "1001", parcel) is False
    assert store.record_shipment("acme", "1001", second) is True

    assert store.find_shipment("ups", "1Z0001") == [("acme", "1001")]
    assert store.find_shipment("dhl", "1Z0001") == []
    assert store.list_shipments("acme", "1001") == [parcel, second]
    assert store.list_shipments("acme", "9999") == []


def test_shipment_for_unknown_order_or_foreign_parcel_is_refused(store: Store, make_order: MakeOrder) -> None:
    parcel = Shipment(carrier="ups", tracking_number="1Z0001")
    with pytest.raises(UnknownOrderError, match="1001"):
        store.record_shipment("acme", "1001", parcel)
    store.record_order(make_order("1001"), {})
    store.record_order(make_order("1002"), {})
    store.record_shipment("acme", "1001", parcel)
    with pytest.raises(ShipmentConflictError, match="already belongs to this merchant's order 1001"):
        store.record_shipment("acme", "1002", parcel)


# -- tracking events ---------------------------------------------------------------------------------


def test_tracking_events_are_deduplicated_across_webhook_and_poll(store: Store) -> None:
    first = [event("e1", 0, TrackingStatus.PENDING), event("e2", 60)]
    assert store.record_tracking_events(first, "webhook", "ab" * 32) == first

    again = [event("e2", 60), event("e3", 120, TrackingStatus.OUT_FOR_DELIVERY), event("e3", 120)]
    assert store.record_tracking_events(again, "poll", None) == [again[1]]
    assert store.record_tracking_events([], "poll") == []

    stored = store.list_tracking_events("ups", "1Z0001")
    assert [e.event_id for e in stored] == ["e1", "e2", "e3"]
    assert stored[2] == again[1]
    assert store.list_tracking_events("ups", "OTHER") == []


def test_same_event_id_on_another_parcel_is_a_different_event(store: Store) -> None:
    a = event("e1", 0, tracking_number="1Z0001")
    b = event("e1", 0, tracking_number="1Z0002")
    c = event("e1", 0, carrier="dhl")
    assert store.record_tracking_events([a, b, c], "poll") == [a, b, c]


def test_tracking_events_come_back_oldest_first_with_details(store: Store) -> None:
    late = event(
        "late",
        300,
        TrackingStatus.EXCEPTION,
        exception_reason="address",
        location="Leipzig",
        estimated_delivery=T0 + timedelta(days=2),
        carrier_code="X1",
    )
    early = event("early", -300)
    store.record_tracking_events([late, early], "webhook")
    assert store.list_tracking_events("ups", "1Z0001") == [early, late]


def test_tracking_source_must_be_webhook_or_poll(store: Store) -> None:
    with pytest.raises(ValueError, match="source"):
        store.record_tracking_events([event("e1", 0)], "email")


# -- outbox ------------------------------------------------------------------------------------------


def test_claim_inserts_once_and_then_returns_the_same_row(store: Store, make_request: MakeRequest) -> None:
    req = make_request()
    row = store.claim_message(req)
    assert (row.status, row.attempts, row.skip_reason, row.step, row.channel) == (
        OutboxStatus.PENDING,
        0,
        None,
        Step.CONFIRMATION,
        Channel.EMAIL,
    )
    assert row.requested_at == T0

    again = store.claim_message(make_request(recipient="someone-else@example.com"))
    assert again == row  # the first request's fields win
    assert [r.idempotency_key for r in store.list_messages("acme", "1001")] == [req.idempotency_key]


def test_concurrent_claims_of_one_key_yield_one_row(store: Store, make_request: MakeRequest) -> None:
    rows = run_together(12, lambda i: store.claim_message(make_request()))
    assert len({r.idempotency_key for r in rows}) == 1
    assert len({r.created_at for r in rows}) == 1
    assert len(store.list_messages("acme", "1001")) == 1


def test_only_one_concurrent_attempt_gets_to_send(store: Store, make_request: MakeRequest) -> None:
    key = make_request().idempotency_key
    store.claim_message(make_request())
    winners = [r for r in run_together(8, lambda i: store.mark_sending(key)) if r is not None]
    assert len(winners) == 1 and winners[0].status is OutboxStatus.SENDING and winners[0].attempts == 1


def test_outbox_state_machine(store: Store, make_request: MakeRequest) -> None:
    key = make_request().idempotency_key
    store.claim_message(make_request())

    sending = store.mark_sending(key)
    assert sending is not None and (sending.status, sending.attempts) == (OutboxStatus.SENDING, 1)
    assert store.mark_sending(key) is None  # already being sent

    failed = store.mark_failed(key, "smtp timeout")
    assert failed is not None and (failed.status, failed.detail) == (OutboxStatus.FAILED, "smtp timeout")
    assert store.mark_sent(key, "never", T0) is None  # cannot go from failed to sent without sending

    retry = store.mark_sending(key)
    assert retry is not None and retry.attempts == 2

    at = T0 + timedelta(seconds=3)
    sent = store.mark_sent(key, "prov-1", at)
    assert sent is not None
    assert (sent.status, sent.provider_message_id, sent.sent_at, sent.detail) == (OutboxStatus.SENT, "prov-1", at, "")

    # final: nothing moves it any more
    assert store.mark_sending(key) is None
    assert store.mark_failed(key, "late failure") is None
    assert store.mark_skipped(key, SkipReason.CAPPED) is None
    assert store.mark_unconfirmed(key, at, "unconfirmed: x") is None
    assert store.mark_sent(key, "prov-2", at) is None
    assert store.get_message(key) == sent


def test_only_the_current_attempt_hands_a_message_over(store: Store, make_request: MakeRequest) -> None:
    """An attempt marked 'awaiting hand-over' and then overtaken by a retry (it was timed out while it waited)
    can no longer hand the message over; the retry can, once."""
    key = make_request().idempotency_key
    store.claim_message(make_request())
    first = store.mark_sending(key, awaiting_handover=True)
    assert first is not None and (first.attempts, first.detail) == (1, AWAITING_HANDOVER)

    retry = store.mark_resending(key, first.attempts, awaiting_handover=True)
    assert retry is not None and (retry.status, retry.attempts, retry.detail) == (
        OutboxStatus.SENDING,
        2,
        AWAITING_HANDOVER,
    )
    assert not store.hand_over(key, first.attempts)
    assert store.hand_over(key, retry.attempts)
    assert not store.hand_over(key, retry.attempts)  # handed over: the mark is gone
    row = store.get_message(key)
    assert row is not None and (row.status, row.detail) == (OutboxStatus.SENDING, "")


def test_unconfirmed_send_can_be_confirmed_late_but_never_resent(store: Store, make_request: MakeRequest) -> None:
    key = make_request().idempotency_key
    store.claim_message(make_request())
    store.mark_sending(key)
    unconfirmed = store.mark_unconfirmed(key, T0, "unconfirmed: connection dropped")
    assert unconfirmed is not None
    assert (unconfirmed.status, unconfirmed.provider_message_id) == (OutboxStatus.SENT, None)
    assert store.mark_sending(key) is None

    confirmed = store.mark_sent(key, "prov-9", T0)
    assert confirmed is not None and confirmed.provider_message_id == "prov-9" and confirmed.detail == ""


def test_skip_is_final_and_keeps_its_reason(store: Store, make_request: MakeRequest) -> None:
    key = make_request().idempotency_key
    store.claim_message(make_request())
    skipped = store.mark_skipped(key, SkipReason.NO_ADDRESS, "no email")
    assert skipped is not None
    assert (skipped.status, skipped.skip_reason, skipped.detail) == (
        OutboxStatus.SKIPPED,
        SkipReason.NO_ADDRESS,
        "no email",
    )
    assert store.mark_sending(key) is None
    assert store.mark_skipped("no-such-key", SkipReason.CAPPED) is None
    assert store.get_message("no-such-key") is None


def _sent_marketing(store: Store, make_request: MakeRequest, key: str, at: datetime, **kw: Any) -> None:
    req = make_request(key, step=Step.REVIEW_REQUEST, requested_at=at, **kw)
    store.claim_message(req)
    store.mark_sending(key)
    store.mark_sent(key, f"p-{key}", at)


def test_cap_counts_sent_marketing_in_a_half_open_window(store: Store, make_request: MakeRequest) -> None:
    now = T0
    _sent_marketing(store, make_request, "m-25h", now - timedelta(hours=25))
    _sent_marketing(store, make_request, "m-24h", now - timedelta(hours=24))  # exactly `since`: counted
    _sent_marketing(store, make_request, "m-1h", now - timedelta(hours=1))
    _sent_marketing(store, make_request, "m-now", now)  # exactly `until`: not counted
    _sent_marketing(store, make_request, "m-sms", now - timedelta(hours=1), channel=Channel.SMS)
    _sent_marketing(store, make_request, "m-other", now - timedelta(hours=1), customer_id="c-2")
    # transactional messages and messages that did not go out do not count
    store.claim_message(make_request("t-1", step=Step.SHIPPED, requested_at=now - timedelta(hours=2)))
    store.mark_sending("t-1")
    store.mark_sent("t-1", "p", now)
    store.claim_message(make_request("m-skipped", step=Step.REORDER_REMINDER, requested_at=now - timedelta(hours=2)))
    store.mark_skipped("m-skipped", SkipReason.CAPPED)
    store.claim_message(make_request("m-pending", step=Step.REORDER_REMINDER, requested_at=now - timedelta(hours=2)))

    since = now - timedelta(hours=24)
    assert store.count_marketing_sent("acme", "c-1", Channel.EMAIL, since, now) == 2
    assert store.count_marketing_sent("acme", "c-1", Channel.EMAIL, since) == 3
    assert store.count_marketing_sent("acme", "c-1", Channel.SMS, since, now) == 1
    assert store.count_marketing_sent("acme", "c-2", Channel.EMAIL, since, now) == 1
    assert store.count_marketing_sent("other", "c-1", Channel.EMAIL, since, now) == 0


def test_marketing_flag_follows_the_step_or_the_request(store: Store, make_request: MakeRequest) -> None:
    assert store.claim_message(make_request("a", step=Step.REVIEW_REQUEST)).marketing is True
    assert store.claim_message(make_request("b", step=Step.SHIPPED)).marketing is False
    assert store.claim_message(make_request("c", step=Step.FOLLOW_UP, marketing=True)).marketing is True


def test_in_flight_marketing_counts_towards_the_cap(store: Store, make_request: MakeRequest) -> None:
    store.claim_message(make_request("m", step=Step.REVIEW_REQUEST, requested_at=T0 - timedelta(minutes=5)))
    store.mark_sending("m")
    assert store.count_marketing_sent("acme", "c-1", Channel.EMAIL, T0 - timedelta(hours=1), T0) == 1


def test_list_messages_is_per_order_in_request_order(store: Store, make_request: MakeRequest) -> None:
    store.claim_message(make_request("later", requested_at=T0 + timedelta(hours=1)))
    store.claim_message(make_request("earlier", requested_at=T0))
    store.claim_message(make_request("elsewhere", order_id="2002"))
    assert [r.idempotency_key for r in store.list_messages("acme", "1001")] == ["earlier", "later"]
    assert [r.idempotency_key for r in store.list_messages("acme", "2002")] == ["elsewhere"]


# -- suppressions ------------------------------------------------------------------------------------


def test_suppressions_per_channel_case_insensitive_email(store: Store) -> None:
    assert store.suppress(Channel.EMAIL, "Ada@Example.com ", SuppressionReason.BOUNCED) is True
    assert store.is_suppressed(Channel.EMAIL, "ada@example.com")
    assert store.get_suppression(Channel.EMAIL, "ADA@EXAMPLE.COM") is SuppressionReason.BOUNCED
    assert not store.is_suppressed(Channel.SMS, "ada@example.com")

    assert store.suppress(Channel.EMAIL, "ada@example.com", SuppressionReason.OPTED_OUT) is False
    assert store.get_suppression(Channel.EMAIL, "ada@example.com") is SuppressionReason.OPTED_OUT

    assert store.suppress(Channel.SMS, "+15551234567", SuppressionReason.OPTED_OUT) is True
    assert not store.is_suppressed(Channel.WHATSAPP, "+15551234567")

    assert store.unsuppress(Channel.EMAIL, "ADA@example.com") is True
    assert store.unsuppress(Channel.EMAIL, "ada@example.com") is False
    assert store.get_suppression(Channel.EMAIL, "ada@example.com") is None


# -- time --------------------------------------------------------------------------------------------


def test_datetimes_round_trip_aware_and_in_utc(store: Store, make_order: MakeOrder, make_request: MakeRequest) -> None:
    plus5 = timezone(timedelta(hours=5))
    placed = datetime(2026, 11, 22, 17, 30, 15, 123456, tzinfo=plus5)
    store.record_order(make_order(placed_at=placed), {})
    order = store.get_order("acme", "1001")
    assert order is not None and order.placed_at == placed and order.placed_at.tzinfo is not None

    row = store.claim_message(make_request(requested_at=placed))
    assert row.requested_at == placed
    assert row.requested_at.utcoffset() == timedelta(0)
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset() == timedelta(0)

    store.record_shipment("acme", "1001", Shipment(carrier="ups", tracking_number="1Z0001", shipped_at=placed))
    (shipment,) = store.list_shipments("acme", "1001")
    assert shipment.shipped_at == placed and shipment.shipped_at is not None
    assert shipment.shipped_at.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(store: Store, make_request: MakeRequest) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.claim_message(make_request(requested_at=datetime(2026, 11, 22, 12, 0)))


def test_cap_window_in_another_timezone_compares_instants(store: Store, make_request: MakeRequest) -> None:
    _sent_marketing(store, make_request, "m", T0)
    tokyo = timezone(timedelta(hours=9))
    since = (T0 - timedelta(minutes=1)).astimezone(tokyo)
    until = (T0 + timedelta(minutes=1)).astimezone(tokyo)
    assert store.count_marketing_sent("acme", "c-1", Channel.EMAIL, since, until) == 1


def test_order_total_is_exact(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order(total="1234567.89"), {})
    order = store.get_order("acme", "1001")
    assert order is not None and order.total == Decimal("1234567.89")
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(tables.OrderRow.total)).scalar_one() == Decimal("1234567.89")

"""Retention (`Store.prune`) and erasure (`Store.forget_customer`) on SQLite and PostgreSQL: what goes, what stays
(everything a count of orders, messages and scans needs), and that no personal data is left or written about it."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from domain import Actor, Role, Shipment, SkipReason, TrackingEvent, TrackingStatus
from storage import Store
from storage.base import AUDIT, MESSAGES, ORDERS, PAYLOADS, STORE_DELIVERIES
from storage.types import utcnow
from tests.storage.conftest import T0, MakeOrder, MakeRequest

OPERATOR = Actor(name="ops-alice", role=Role.ADMIN)


def _backdate(store: Store, table: sa.Table, column: str, days: int, where: sa.ColumnElement[bool]) -> None:
    with store.engine.begin() as conn:
        conn.execute(table.update().where(where).values({column: utcnow() - timedelta(days=days)}))


def _kpis(store: Store) -> dict[str, Any]:
    """What counting needs: messages by step, channel, status and times; orders and amounts; scans by status."""
    with store.engine.begin() as conn:
        messages = conn.execute(
            sa.select(MESSAGES.c.step, MESSAGES.c.channel, MESSAGES.c.status, MESSAGES.c.skip_reason,
                      MESSAGES.c.requested_at, MESSAGES.c.sent_at, MESSAGES.c.delivery_status)
            .order_by(MESSAGES.c.pk)
        ).all()  # fmt: skip
        orders = conn.execute(sa.select(ORDERS.c.order_id, ORDERS.c.total, ORDERS.c.placed_at)).all()
        scans = conn.execute(sa.text("SELECT status, count(*) FROM tracking_events GROUP BY status")).all()
    return {"messages": [tuple(m) for m in messages], "orders": sorted(map(tuple, orders)), "scans": sorted(scans)}


def _scan(event_id: str, number: str) -> TrackingEvent:
    return TrackingEvent(
        event_id=event_id, carrier="ups", tracking_number=number, status=TrackingStatus.IN_TRANSIT, occurred_at=T0
    )


def _seed(store: Store, make_order: MakeOrder, make_request: MakeRequest) -> None:
    """Order 1001 (500 days ago: past retention) and 2002 (today), each with a message, a scan pushed in a webhook
    and a store delivery."""
    for order_id, number in (("1001", "1ZOLD"), ("2002", "1ZNEW")):
        store.record_order(make_order(order_id), {"raw": order_id, "email": "ada@example.com"})
        store.record_shipment("acme", order_id, Shipment(carrier="ups", tracking_number=number, items={"li-1": 2}))
        store.record_carrier_push("ups", f'{{"push":"{number}"}}'.encode(), [_scan(f"e-{number}", number)])
        store.record_store_delivery("shopify", "acme.myshopify.com", f"d-{order_id}", "orders/create", "acme",
                                    order_id, "started")  # fmt: skip
        key = f"order-acme-{order_id}:confirmation:email"
        store.claim_message(make_request(key, order_id=order_id))
        store.mark_skipped(key, SkipReason.OPTED_OUT, "ada@example.com opted out of email")
    old = 500
    _backdate(store, ORDERS, "created_at", old, ORDERS.c.order_id == "1001")
    _backdate(store, MESSAGES, "requested_at", old, MESSAGES.c.order_id == "1001")
    old_body = hashlib.sha256(b'{"push":"1ZOLD"}').hexdigest()
    _backdate(store, PAYLOADS, "received_at", old, PAYLOADS.c.sha256 == old_body)
    _backdate(store, STORE_DELIVERIES, "received_at", old, STORE_DELIVERIES.c.order_id == "1001")


def test_prune_empties_what_is_past_retention_and_keeps_what_counts(
    store: Store, make_order: MakeOrder, make_request: MakeRequest
) -> None:
    _seed(store, make_order, make_request)
    before = _kpis(store)
    cutoff = utcnow() - timedelta(days=400)
    expected = {"orders.raw_payload": 1, "carrier_payloads": 1, "messages.recipient+detail": 1, "store_deliveries": 1}

    assert store.prune(cutoff, dry_run=True) == expected
    assert store.get_raw_order("acme", "1001") == {"raw": "1001", "email": "ada@example.com"}  # dry run: untouched

    assert store.prune(cutoff, batch=1) == expected
    assert store.get_raw_order("acme", "1001") == {}
    assert store.get_raw_order("acme", "2002") == {"raw": "2002", "email": "ada@example.com"}
    old, new = (store.get_message(f"order-acme-{o}:confirmation:email") for o in ("1001", "2002"))
    assert old is not None and (old.recipient, old.detail) == (None, "")
    assert new is not None and new.recipient == "ada@example.com"
    with store.engine.begin() as conn:
        bodies = conn.execute(sa.select(PAYLOADS.c.body)).scalars().all()
        deliveries = conn.execute(sa.select(STORE_DELIVERIES.c.delivery_id)).scalars().all()
    assert bodies == [b'{"push":"1ZNEW"}'] and deliveries == ["d-2002"]
    assert store.store_delivery_seen("shopify", "acme.myshopify.com", "d-2002") == "started"
    assert _kpis(store) == before  # every count and time is as it was
    assert store.get_order("acme", "1001") is not None  # the console still shows the old order

    assert store.prune(cutoff) == dict.fromkeys(expected, 0)  # again: nothing left to do


def _everything(store: Store, merchant_id: str | None = None) -> str:
    """Every row of the tables where an address could hide (of one merchant, if given), as one lower-case text."""
    scope = "" if merchant_id is None else f" WHERE merchant_id = '{merchant_id}'"
    with store.engine.begin() as conn:
        dump = {
            t: [list(r) for r in conn.execute(sa.text(f"SELECT * FROM {t}{scope}")).all()]
            for t in ("customers", "orders", "messages", "audit_log")
        }
        dump["carrier_payloads"] = [list(r) for r in conn.execute(sa.text("SELECT * FROM carrier_payloads")).all()]
    return json.dumps(dump, default=str).lower()


def test_forget_erases_a_customer_within_a_merchant(
    store: Store, make_order: MakeOrder, make_request: MakeRequest
) -> None:
    _seed(store, make_order, make_request)
    store.record_order(make_order("3003", customer_id="c-2", email="bob@example.com"), {"raw": "bob"})
    store.record_order(make_order("1001", merchant_id="globex", email="Ada@Example.com"), {"raw": "globex"})

    erased = store.forget_customer("email", "ADA@example.com", OPERATOR, merchant_id="acme")

    assert erased.customers == 1
    assert [(o.merchant_id, o.order_id) for o in erased.orders] == [("acme", "1001"), ("acme", "2002")]
    assert erased.messages == 2 and erased.carrier_payloads == 2
    for order_id in ("1001", "2002"):
        order = store.get_order("acme", order_id)  # still a valid order for the console
        assert order is not None and order.customer.email is None and order.customer.first_name is None
        assert order.shipping_address.city is None and order.shipping_address.country == "DE"
        assert store.get_raw_order("acme", order_id) == {}
        assert store.order_erased("acme", order_id)
        [entry] = [e for e in store.list_audit("acme", order_id) if e.action == "erase_customer"]
        assert entry.actor == OPERATOR and entry.result["orders"] == 2
    message = store.get_message("order-acme-1001:confirmation:email")
    assert message is not None and message.recipient is None
    assert message.detail == "[erased] opted out of email" and message.status.value == "skipped"
    customer = store.get_customer("acme", "c-1")
    assert customer is not None and (customer.email, customer.first_name) == (None, None)

    assert "ada@example.com" not in _everything(store, "acme")
    assert store.get_order("globex", "1001").customer.email == "Ada@example.com"  # type: ignore[union-attr]
    assert store.get_order("acme", "3003").customer.email == "bob@example.com"  # type: ignore[union-attr]
    assert not store.order_erased("acme", "3003")
    with store.engine.begin() as conn:
        audit = json.dumps([list(r) for r in conn.execute(sa.select(AUDIT)).all()], default=str).lower()
    assert "ada@example.com" not in audit and '"ada"' not in audit  # (a bare "ada" may be in a uuid)

    assert not store.forget_customer("email", "ada@example.com", OPERATOR, merchant_id="acme").found  # idempotent


def test_forget_by_phone_across_merchants(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order("1001", phone="+4915112345678"), {})
    store.record_order(make_order("1001", merchant_id="globex", phone="+4915112345678"), {})
    store.record_order(make_order("1002", customer_id="c-9", phone="+4915100000000"), {})

    erased = store.forget_customer("phone", "+4915112345678", OPERATOR)

    assert [(o.merchant_id, o.order_id) for o in erased.orders] == [("acme", "1001"), ("globex", "1001")]
    assert "+4915112345678" not in _everything(store)
    assert store.get_order("acme", "1002").customer.phone == "+4915100000000"  # type: ignore[union-attr]
    assert not store.forget_customer("phone", "+4915199999999", OPERATOR).found

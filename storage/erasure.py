"""Erasure: a customer's personal data out of our database, on an operator's request (`aftercare customer
forget`), in one transaction.

Found by the address (an email, lower-cased, or an E.164 phone number) in the customers table and in the
outbox's recipients, within one merchant or all of them. Then:
- customers: names, email and phone cleared;
- orders: order_json keeps the order (items, amounts, the country it went to) without the customer's names,
  email, phone and street address; raw_payload emptied; `erased_at` set, so the send activity skips every
  later message of the order whatever its running journey still holds;
- messages: recipient cleared, the address cut out of detail and delivery_detail (a skip's detail names it);
- carrier_payloads: the webhook bodies of their parcels' scans deleted (they may carry a name or an address);
- audit_log: one `erase_customer` row per order with who, when and how many rows: never the address.

Kept on purpose: suppressions (the address we must never write to again: honouring an objection needs it),
tracking scans (a status and a place, by parcel number), the audit log's earlier rows.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import Actor, AuditEntry
from storage.audit import insert_audit
from storage.base import CUSTOMERS, EVENTS, MESSAGES, ORDERS, PAYLOADS, SHIPMENTS, StoreBase, of_order
from storage.types import utcnow

AddressKind = Literal["email", "phone"]
ERASE_ACTION = "erase_customer"
ERASED = "[erased]"


@dataclass(frozen=True)
class ErasedOrder:
    merchant_id: str
    order_id: str
    workflow_id: str | None


@dataclass(frozen=True)
class Erasure:
    """What `forget_customer` changed: rows per table, and the orders (with their journeys) it touched."""

    customers: int = 0
    orders: list[ErasedOrder] = field(default_factory=list)
    messages: int = 0
    carrier_payloads: int = 0

    @property
    def found(self) -> bool:
        return bool(self.customers or self.orders or self.messages)


class ErasureStore(StoreBase):
    """Forgetting a customer; telling whether an order was erased."""

    def forget_customer(self, kind: AddressKind, address: str, actor: Actor, merchant_id: str | None = None) -> Erasure:
        """Erase every row holding `address` (see the module's docstring); `merchant_id` None: every merchant.
        Forgetting again finds nothing (the address is nowhere any more) and changes nothing."""
        address = address.strip().lower() if kind == "email" else address.strip()
        now = utcnow()
        with self._writer.begin() as conn:
            customers = _matching_customers(conn, kind, address, merchant_id)
            orders = _orders_of(conn, customers, kind, address, merchant_id)
            for pk, doc in [(o[0], o[1]) for o in orders]:
                conn.execute(
                    ORDERS.update()
                    .where(ORDERS.c.pk == pk)
                    .values(order_json=scrub_order(doc), raw_payload={}, erased_at=now)
                )
            for m, c in customers:
                conn.execute(
                    CUSTOMERS.update()
                    .where(CUSTOMERS.c.merchant_id == m, CUSTOMERS.c.customer_id == c)
                    .values(first_name=None, last_name=None, email=None, phone=None, updated_at=now)
                )
            erased = [ErasedOrder(o[2], o[3], o[4]) for o in orders]
            messages = _scrub_messages(conn, erased, kind, address, merchant_id)
            payloads = _delete_payloads(conn, erased)
            result = {"customers": len(customers), "messages": messages, "carrier_payloads": payloads}
            for order in erased:
                insert_audit(
                    conn,
                    AuditEntry(
                        entry_id=f"erasure:{uuid.uuid4()}",
                        merchant_id=order.merchant_id,
                        order_id=order.order_id,
                        action=ERASE_ACTION,
                        actor=actor,
                        at=now,
                        outcome="done",
                        request={"matched_by": kind, "merchant": merchant_id or "all"},
                        result=result | {"orders": len(erased)},
                    ),
                )
        return Erasure(customers=len(customers), orders=erased, messages=messages, carrier_payloads=payloads)

    def order_erased(self, merchant_id: str, order_id: str) -> bool:
        """True if an operator erased this order's customer data: none of its messages may go out."""
        row = self._row(sa.select(ORDERS.c.erased_at).where(of_order(ORDERS, merchant_id, order_id)))
        return row is not None and row.erased_at is not None


def scrub_order(doc: dict[str, Any]) -> dict[str, Any]:
    """An order's JSON without the customer's names, email, phone and street address (still a valid Order)."""
    customer = dict(doc.get("customer") or {})
    customer.update(first_name=None, last_name=None, email=None, phone=None)
    address = doc.get("shipping_address") or {}
    return doc | {"customer": customer, "shipping_address": {"country": address.get("country", "ZZ")}}


def _in_scope(table: sa.Table, merchant_id: str | None) -> sa.ColumnElement[bool]:
    return sa.true() if merchant_id is None else table.c.merchant_id == merchant_id


def _address_matches(column: sa.Column[Any], kind: AddressKind, address: str) -> sa.ColumnElement[bool]:
    return sa.func.lower(column) == address if kind == "email" else column == address


def _matching_customers(
    conn: Connection, kind: AddressKind, address: str, merchant_id: str | None
) -> list[tuple[str, str]]:
    column = CUSTOMERS.c.email if kind == "email" else CUSTOMERS.c.phone
    rows = conn.execute(
        sa.select(CUSTOMERS.c.merchant_id, CUSTOMERS.c.customer_id)
        .where(_address_matches(column, kind, address), _in_scope(CUSTOMERS, merchant_id))
        .order_by(CUSTOMERS.c.merchant_id, CUSTOMERS.c.customer_id)
    ).all()
    return [(r.merchant_id, r.customer_id) for r in rows]


def _orders_of(
    conn: Connection, customers: list[tuple[str, str]], kind: AddressKind, address: str, merchant_id: str | None
) -> list[tuple[int, dict[str, Any], str, str, str | None]]:
    """(pk, order_json, merchant, order id, workflow id) of the customers' orders and of every order with a message
    to the address (an order placed under contact details the customer has changed since)."""
    messaged = sa.select(MESSAGES.c.merchant_id, MESSAGES.c.order_id).where(
        _address_matches(MESSAGES.c.recipient, kind, address), _in_scope(MESSAGES, merchant_id)
    )
    pairs = {tuple(r) for r in conn.execute(messaged).all()}
    wanted = [sa.and_(ORDERS.c.merchant_id == m, ORDERS.c.customer_id == c) for m, c in customers]
    wanted += [of_order(ORDERS, m, o) for m, o in sorted(pairs)]
    if not wanted:
        return []
    rows = conn.execute(
        sa.select(ORDERS.c.pk, ORDERS.c.order_json, ORDERS.c.merchant_id, ORDERS.c.order_id, ORDERS.c.workflow_id)
        .where(sa.or_(*wanted))
        .order_by(ORDERS.c.merchant_id, ORDERS.c.placed_at, ORDERS.c.pk)
    ).all()
    return [(r.pk, r.order_json, r.merchant_id, r.order_id, r.workflow_id) for r in rows]


def _scrub_messages(
    conn: Connection, orders: list[ErasedOrder], kind: AddressKind, address: str, merchant_id: str | None
) -> int:
    """Clear the recipient of the orders' messages and of any other message to the address; cut the address out
    of their details. Returns how many rows changed."""
    where = [_address_matches(MESSAGES.c.recipient, kind, address)]
    where += [of_order(MESSAGES, o.merchant_id, o.order_id) for o in orders]
    rows = conn.execute(
        sa.select(MESSAGES.c.pk, MESSAGES.c.recipient, MESSAGES.c.detail, MESSAGES.c.delivery_detail).where(
            sa.or_(*where), _in_scope(MESSAGES, merchant_id)
        )
    ).all()
    changed = 0
    for row in rows:
        cut = [address] + ([row.recipient] if row.recipient else [])
        detail, delivery = _cut(row.detail, cut), _cut(row.delivery_detail, cut)
        if row.recipient is None and detail == row.detail and delivery == row.delivery_detail:
            continue
        conn.execute(
            MESSAGES.update()
            .where(MESSAGES.c.pk == row.pk)
            .values(recipient=None, detail=detail, delivery_detail=delivery, updated_at=utcnow())
        )
        changed += 1
    return changed


def _cut(text: str | None, addresses: list[str]) -> Any:
    if not text:
        return text
    for address in addresses:
        text = re.sub(re.escape(address), ERASED, text, flags=re.IGNORECASE)
    return text


def _delete_payloads(conn: Connection, orders: list[ErasedOrder]) -> int:
    """Delete the carrier webhook bodies the orders' parcels' scans came in."""
    if not orders:
        return 0
    tracked_via = sa.func.coalesce(SHIPMENTS.c.provider, SHIPMENTS.c.carrier)
    digests = (
        sa.select(EVENTS.c.payload_sha256)
        .join(
            SHIPMENTS,
            sa.and_(tracked_via == EVENTS.c.carrier, SHIPMENTS.c.tracking_number == EVENTS.c.tracking_number),
        )
        .where(
            sa.or_(*[of_order(SHIPMENTS, o.merchant_id, o.order_id) for o in orders]),
            EVENTS.c.payload_sha256.is_not(None),
        )
    )
    found = sorted(set(conn.execute(digests).scalars()))
    if not found:
        return 0
    return int(conn.execute(PAYLOADS.delete().where(PAYLOADS.c.sha256.in_(found))).rowcount)

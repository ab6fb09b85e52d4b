"""Orders and shipments: merchants, customers, orders with their raw payloads, and the parcels on them.

Recording is idempotent (a repeated webhook changes nothing); tracking numbers are unique per merchant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import Customer, Order, Shipment, journey_id
from storage.base import CUSTOMERS, MERCHANTS, ORDERS, SHIPMENTS, Rollback, StoreBase, insert_for, insert_new, of_order
from storage.records import EarlierOrder, ShipmentConflictError, UnknownOrderError
from storage.rows import customer_from_row, row_values, shipment_from_row
from storage.types import utcnow


class OrdersStore(StoreBase):
    """Merchants, customers, orders and shipments."""

    # -- merchants, customers, orders ---------------------------------------------------------------

    def upsert_merchant(self, id: str, name: str, policy_hash: str | None) -> None:
        """Record the merchant's display name and the hash of the policy it currently runs."""
        now = utcnow()
        with self._writer.begin() as conn:
            stmt = insert_for(conn, MERCHANTS).values(id=id, name=name, policy_hash=policy_hash, updated_at=now)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"], set_={"name": name, "policy_hash": policy_hash, "updated_at": now}
                )
            )

    def record_order(self, order: Order, raw: dict[str, Any]) -> bool:
        """Store a new order with its raw payload; True if it was new.

        The same order again (a repeated webhook) returns False and changes nothing, not even the
        customer's details. A new order creates its merchant if unknown and refreshes the customer's
        contact details and consent to what this order says.
        """
        now = utcnow()
        try:
            with self._writer.begin() as conn:
                if self._order_pk(conn, order.merchant_id, order.order_id) is not None:
                    return False
                conn.execute(
                    insert_for(conn, MERCHANTS)
                    .values(id=order.merchant_id, name=order.merchant_id, policy_hash=None, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                customer = order.customer
                details = row_values(customer, CUSTOMERS, updated_at=now)  # contact details and consent
                conn.execute(
                    insert_for(conn, CUSTOMERS)
                    .values(merchant_id=order.merchant_id, customer_id=customer.id, created_at=now, **details)
                    .on_conflict_do_update(index_elements=["merchant_id", "customer_id"], set_=details)
                )
                inserted = insert_new(
                    conn,
                    ORDERS,
                    ["merchant_id", "order_id"],
                    **row_values(
                        order,
                        ORDERS,
                        customer_id=customer.id,
                        order_json=order.model_dump(mode="json"),
                        raw_payload=raw,
                        created_at=now,
                        workflow_id=order.workflow_id,
                    ),
                )
                if not inserted:  # a concurrent call recorded it first: undo our customer update
                    raise Rollback(False)
                return True
        except Rollback as undo:
            return bool(undo.result)

    def get_order(self, merchant_id: str, order_id: str) -> Order | None:
        doc = self._order_column(ORDERS.c.order_json, merchant_id, order_id)
        return None if doc is None else Order.model_validate(doc)

    def journey_workflow_id(self, merchant_id: str, order_id: str) -> str | None:
        """The workflow id the order's journey runs under, or None for an order we do not have."""
        row = self._row(sa.select(ORDERS.c.workflow_id).where(of_order(ORDERS, merchant_id, order_id)))
        if row is None:
            return None
        return row.workflow_id or journey_id(merchant_id, order_id)

    def get_raw_order(self, merchant_id: str, order_id: str) -> dict[str, Any] | None:
        """The payload exactly as the store sent it: for support and for re-parsing after a fix."""
        raw: dict[str, Any] | None = self._order_column(ORDERS.c.raw_payload, merchant_id, order_id)
        return raw

    def _order_column(self, column: sa.Column[Any], merchant_id: str, order_id: str) -> Any:
        """One column of one order, or None for an order we do not have."""
        row = self._row(sa.select(column).where(of_order(ORDERS, merchant_id, order_id)))
        return None if row is None else row[0]

    def merchants_with_order(self, order_id: str) -> list[str]:
        """Merchants that have an order with this id (order ids are only unique per merchant)."""
        return self._scalars(
            sa.select(ORDERS.c.merchant_id).where(ORDERS.c.order_id == order_id).order_by(ORDERS.c.merchant_id)
        )

    def customer_orders_with_skus(
        self, merchant_id: str, customer_id: str, skus: Iterable[str], exclude_order_id: str | None = None
    ) -> list[EarlierOrder]:
        """The customer's other orders that contain any of `skus`, oldest first, each with its journey and the
        SKUs it shares (sorted): how a new order finds the journeys whose reorder reminders it makes moot."""
        wanted = set(skus)
        if not wanted:
            return []
        query = (
            sa.select(ORDERS.c.order_id, ORDERS.c.workflow_id, ORDERS.c.order_json)
            .where(ORDERS.c.merchant_id == merchant_id, ORDERS.c.customer_id == customer_id)
            .order_by(ORDERS.c.placed_at, ORDERS.c.pk)
        )
        if exclude_order_id is not None:
            query = query.where(ORDERS.c.order_id != exclude_order_id)
        found: list[EarlierOrder] = []
        for row in self._rows(query):
            shared = wanted & {item["sku"] for item in row.order_json.get("items", [])}
            if shared:
                found.append(EarlierOrder(row.order_id, row.workflow_id, sorted(shared)))
        return found

    def get_customer(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A customer's latest known details and consent (from their most recent new order)."""
        row = self._row(
            sa.select(CUSTOMERS).where(CUSTOMERS.c.merchant_id == merchant_id, CUSTOMERS.c.customer_id == customer_id)
        )
        return None if row is None else customer_from_row(row)

    def get_merchant(self, merchant_id: str) -> tuple[str, str | None] | None:
        """(name, policy_hash) of a merchant, or None."""
        row = self._row(sa.select(MERCHANTS.c.name, MERCHANTS.c.policy_hash).where(MERCHANTS.c.id == merchant_id))
        return None if row is None else (row.name, row.policy_hash)

    @staticmethod
    def _order_pk(conn: Connection, merchant_id: str, order_id: str) -> int | None:
        return conn.execute(sa.select(ORDERS.c.pk).where(of_order(ORDERS, merchant_id, order_id))).scalar()

    # -- shipments ----------------------------------------------------------------------------------

    def record_shipment(self, merchant_id: str, order_id: str, shipment: Shipment) -> bool:
        """Attach a parcel to an order; True if new, False if this order already has it.

        Tracking numbers are unique per merchant: another merchant may track the same carrier and number
        (and is neither refused nor named). Raises UnknownOrderError for an order we never recorded, and
        ShipmentConflictError when the number is already one of this merchant's other orders' (carriers do
        recycle numbers, but not within a journey's lifetime: two orders claiming a parcel is a data problem).
        """
        with self._writer.begin() as conn:
            if self._order_pk(conn, merchant_id, order_id) is None:
                raise UnknownOrderError(f"order {order_id!r} of merchant {merchant_id!r} is not recorded")
            inserted = insert_new(
                conn,
                SHIPMENTS,
                ["carrier", "tracking_number", "merchant_id"],
                **row_values(shipment, SHIPMENTS, merchant_id=merchant_id, order_id=order_id, created_at=utcnow()),
            )
            if inserted:
                return True
            owner = conn.execute(
                sa.select(SHIPMENTS.c.order_id).where(
                    SHIPMENTS.c.carrier == shipment.carrier,
                    SHIPMENTS.c.tracking_number == shipment.tracking_number,
                    SHIPMENTS.c.merchant_id == merchant_id,
                )
            ).scalar()
        if owner != order_id:
            raise ShipmentConflictError(
                f"tracking_number: {shipment.carrier} parcel {shipment.tracking_number} already belongs to "
                f"this merchant's order {owner}; a tracking number can be on one order only"
            )
        return False

    def find_shipment(self, carrier: str, tracking_number: str) -> list[tuple[str, str]]:
        """(merchant_id, order_id) of every merchant's parcel tracked via `carrier` (the provider) with this
        number, by merchant: where a provider's webhook goes. Empty when nobody registered it (yet)."""
        with self.engine.begin() as conn:
            return shipment_owners(conn, carrier, tracking_number)

    def list_shipments(self, merchant_id: str, order_id: str) -> list[Shipment]:
        rows = self._rows(
            sa.select(SHIPMENTS)
            .where(of_order(SHIPMENTS, merchant_id, order_id))
            .order_by(SHIPMENTS.c.created_at, SHIPMENTS.c.pk)
        )
        return [shipment_from_row(r) for r in rows]


def shipment_owners(
    conn: Connection, provider: str, tracking_number: str, carrier: str | None = None
) -> list[tuple[str, str]]:
    """(merchant_id, order_id) of every parcel tracked via `provider` (its `provider`, or for older rows its
    `carrier`) with this number, by merchant. With `carrier` (the provider named the parcel's carrier), a parcel
    recorded with another carrier is not this one; a parcel recorded without a provider cannot be told apart."""
    tracked_via = sa.func.coalesce(SHIPMENTS.c.provider, SHIPMENTS.c.carrier)
    query = sa.select(SHIPMENTS.c.merchant_id, SHIPMENTS.c.order_id).where(
        tracked_via == provider, SHIPMENTS.c.tracking_number == tracking_number
    )
    if carrier is not None:
        query = query.where(sa.or_(SHIPMENTS.c.provider.is_(None), SHIPMENTS.c.carrier == carrier))
    rows = conn.execute(query.order_by(SHIPMENTS.c.merchant_id)).all()
    return [(r.merchant_id, r.order_id) for r in rows]

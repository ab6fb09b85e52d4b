"""The support console's search box: orders by order id, customer email or tracking number."""

from __future__ import annotations

import sqlalchemy as sa

from storage.base import CUSTOMERS, ORDERS, SHIPMENTS, StoreBase
from storage.records import OrderSummary
from storage.rows import MatchedBy, order_summary_from_row


class SearchStore(StoreBase):
    """Order search."""

    # -- support console: order search --------------------------------------------------------------

    def find_orders(self, query: str, limit: int = 20, *, merchant_id: str | None = None) -> list[OrderSummary]:
        """Orders matching what someone typed in the search box: an exact order id, a customer's email
        (any case), or a tracking number. Order-id hits come first, then email, then tracking-number
        hits, each newest first; an order matching on several keys appears once, under the first.
        `merchant_id` keeps a merchant-scoped caller to its own merchant's orders.

        Email matches the customer's latest known address (storage keeps one per customer), which finds
        all of that customer's orders, including those placed under an earlier address.
        """
        text = query.strip()
        if not text or limit < 1:
            return []
        keys: list[tuple[MatchedBy, sa.ColumnElement[bool]]] = [
            ("order_id", ORDERS.c.order_id == text),
            ("email", sa.func.lower(CUSTOMERS.c.email) == text.lower()),
            (
                "tracking_number",
                sa.tuple_(ORDERS.c.merchant_id, ORDERS.c.order_id).in_(
                    sa.select(SHIPMENTS.c.merchant_id, SHIPMENTS.c.order_id)
                    # carriers print numbers in capitals; people type them in whatever case
                    .where(SHIPMENTS.c.tracking_number.in_(sorted({text, text.upper()})))
                ),
            ),
        ]
        if "@" not in text:  # not an email: skip a lookup that cannot match
            keys = [k for k in keys if k[0] != "email"]
        found: dict[tuple[str, str], OrderSummary] = {}
        with self.engine.begin() as conn:
            for matched_by, condition in keys:
                select = (
                    sa.select(
                        ORDERS.c.merchant_id,
                        ORDERS.c.order_id,
                        ORDERS.c.placed_at,
                        ORDERS.c.total,
                        ORDERS.c.currency,
                        CUSTOMERS.c.first_name,
                        CUSTOMERS.c.last_name,
                        CUSTOMERS.c.email,
                    )
                    .join(
                        CUSTOMERS,
                        sa.and_(
                            CUSTOMERS.c.merchant_id == ORDERS.c.merchant_id,
                            CUSTOMERS.c.customer_id == ORDERS.c.customer_id,
                        ),
                    )
                    .where(condition)
                    .order_by(ORDERS.c.placed_at.desc(), ORDERS.c.pk.desc())
                    .limit(limit)
                )
                if merchant_id is not None:
                    select = select.where(ORDERS.c.merchant_id == merchant_id)
                for row in conn.execute(select):
                    found.setdefault((row.merchant_id, row.order_id), order_summary_from_row(row, matched_by))
        return list(found.values())[:limit]

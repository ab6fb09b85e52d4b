"""Store webhook deliveries: which we acted on (a retry changes nothing), and the newest order change we hold."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from storage.base import STORE_DELIVERIES, StoreBase, insert_new
from storage.types import utcnow


class StoreDeliveriesStore(StoreBase):
    """The store_deliveries table."""

    def store_delivery_seen(self, platform: str, shop: str, delivery_id: str) -> str | None:
        """What a delivery already did (its recorded outcome), or None if we have not acted on it."""
        t = STORE_DELIVERIES
        row = self._row(
            sa.select(t.c.outcome).where(t.c.platform == platform, t.c.shop == shop, t.c.delivery_id == delivery_id)
        )
        return None if row is None else str(row.outcome)

    def record_store_delivery(
        self,
        platform: str,
        shop: str,
        delivery_id: str,
        topic: str,
        merchant_id: str,
        order_id: str | None,
        outcome: str,
        order_updated_at: datetime | None = None,
    ) -> bool:
        """Keep that a delivery was acted on; True if new. The same delivery again keeps the first record."""
        with self._writer.begin() as conn:
            return insert_new(
                conn,
                STORE_DELIVERIES,
                ["platform", "shop", "delivery_id"],
                platform=platform,
                shop=shop,
                delivery_id=delivery_id,
                topic=topic,
                merchant_id=merchant_id,
                order_id=order_id,
                outcome=outcome[:200],
                order_updated_at=order_updated_at,
                received_at=utcnow(),
            )

    def latest_order_update(self, merchant_id: str, order_id: str) -> datetime | None:
        """The store's newest change time of the order among the deliveries we acted on (None: none carried one)."""
        t = STORE_DELIVERIES
        value: datetime | None = self._row(
            sa.select(sa.func.max(t.c.order_updated_at)).where(t.c.merchant_id == merchant_id, t.c.order_id == order_id)
        )[0]  # type: ignore[index]  # an aggregate always answers one row
        return value

"""`Store`: the typed, synchronous doorway to the database, made of one part per aggregate.

Every method is one transaction. Methods the outside world may repeat (webhooks, retried
activities) are idempotent: they lean on UNIQUE constraints with `INSERT ... ON CONFLICT DO NOTHING`,
which is race-safe on both backends without turning a duplicate into an error. The API calls these
methods from a threadpool, activities through `asyncio.to_thread`.

Datetimes go in aware and come out aware in UTC (see storage.types.UTCDateTime).

The parts: storage.orders (orders and shipments), storage.tracking (scans, carrier pushes, unmatched
scans), storage.outbox (outbox and suppressions), storage.deliveries (providers' delivery callbacks),
storage.search, storage.tokens (tokens and sessions), storage.audit, storage.stores (store webhook deliveries),
storage.retention (pruning what outlived its retention), storage.erasure (forgetting a customer).
The records they hand out are in storage.records, row mapping in storage.rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.audit import AuditStore
from storage.base import TOKENS as _TOKENS
from storage.db import init_db, make_engine
from storage.deliveries import DeliveriesStore
from storage.erasure import ErasureStore
from storage.orders import OrdersStore
from storage.outbox import OutboxStore

# Names other code (and tests) import from here, from before the split; the records are in storage.records.
from storage.records import ApiTokenInfo, ShipmentConflictError, effective_marketing, hash_token
from storage.retention import RetentionStore
from storage.search import SearchStore
from storage.stores import StoreDeliveriesStore
from storage.tokens import TokensStore
from storage.tracking import TrackingStore

__all__ = ["_TOKENS", "ApiTokenInfo", "ShipmentConflictError", "Store", "effective_marketing", "hash_token"]


class Store(
    OrdersStore,
    TrackingStore,
    OutboxStore,
    DeliveriesStore,
    SearchStore,
    TokensStore,
    AuditStore,
    StoreDeliveriesStore,
    RetentionStore,
    ErasureStore,
):
    """Typed repository over one engine. Thread-safe: each call checks out its own connection."""

    @classmethod
    def open(cls, url: str, *, init: bool = True) -> Store:
        """Engine + (by default) the schema upgraded to head in one step: for tests, benchmarks and quick experiments.
        The API and worker open with `init=False` and refuse a database behind (`aftercare.runtime.open_store`)."""
        engine = make_engine(url)
        if init:
            init_db(engine)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raise if the database cannot answer a trivial query (for health checks)."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

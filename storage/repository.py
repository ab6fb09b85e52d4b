"""`Store`: the typed, synchronous doorway to the database, made of one part per aggregate.

Every method is one transaction. Methods the outside world may repeat (webhooks, retried
activities) are idempotent: they lean on UNIQUE constraints with `INSERT ... ON CONFLICT DO NOTHING`,
which is race-safe on both backends without turning a duplicate into an error. The API calls these
methods from a threadpool, activities through `asyncio.to_thread`.

Datetimes go in aware and come out aware in UTC (see storage.types.UTCDateTime).

The parts: storage.orders (orders and shipments), storage.tracking (scans, carrier pushes, unmatched
scans), storage.outbox (outbox and suppressions), storage.search, storage.tokens (tokens and sessions),
storage.audit. The records they hand out are in storage.records, row mapping in storage.rows.
"""

from __future__ import annotations

import sqlalchemy as sa

from storage.audit import AuditStore
from storage.base import TOKENS as _TOKENS
from storage.db import init_db, make_engine
from storage.orders import OrdersStore
from storage.outbox import OutboxStore
from storage.records import (
    FINAL_OUTBOX_STATUSES,
    ApiTokenInfo,
    IssuedToken,
    OpenedSession,
    OrderSummary,
    OutboxRow,
    OutboxStatus,
    PushRecorded,
    ShipmentConflictError,
    StorageError,
    SuppressionReason,
    TokenNameTakenError,
    UnknownOrderError,
    UnmatchedEvent,
    UnmatchedLimits,
    effective_marketing,
    hash_token,
    normalise_recipient,
)
from storage.search import SearchStore
from storage.tokens import LAST_USED_RESOLUTION, ROLE_SHORT, TOKEN_PREFIX_SECRET_CHARS, TokensStore
from storage.tracking import TRACKING_SOURCES, TrackingStore

__all__ = [
    "FINAL_OUTBOX_STATUSES",
    "LAST_USED_RESOLUTION",
    "ROLE_SHORT",
    "TOKEN_PREFIX_SECRET_CHARS",
    "TRACKING_SOURCES",
    "_TOKENS",
    "ApiTokenInfo",
    "IssuedToken",
    "OpenedSession",
    "OrderSummary",
    "OutboxRow",
    "OutboxStatus",
    "PushRecorded",
    "ShipmentConflictError",
    "StorageError",
    "Store",
    "SuppressionReason",
    "TokenNameTakenError",
    "UnknownOrderError",
    "UnmatchedEvent",
    "UnmatchedLimits",
    "effective_marketing",
    "hash_token",
    "normalise_recipient",
]


class Store(OrdersStore, TrackingStore, OutboxStore, SearchStore, TokensStore, AuditStore):
    """Typed repository over one engine. Thread-safe: each call checks out its own connection."""

    @classmethod
    def open(cls, url: str, *, init: bool = True) -> Store:
        """Engine + (by default) schema in one step: what the worker and the API do at start-up."""
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

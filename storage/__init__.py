"""Persistence: sqlmodel tables, migrations and the `Store` repository. SQLite by default, PostgreSQL by URL.

Only `domain` is imported from the rest of Aftercare; callers get domain models and small records back.
"""

from storage.db import init_db, make_engine
from storage.records import (
    AWAITING_HANDOVER,
    FINAL_OUTBOX_STATUSES,
    ApiTokenInfo,
    DeliveryRecorded,
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
)
from storage.repository import Store
from storage.schema import (
    SchemaBehindError,
    SchemaError,
    current_revision,
    head_revision,
    require_current,
    shown_url,
    upgrade,
)

__all__ = [
    "AWAITING_HANDOVER",
    "FINAL_OUTBOX_STATUSES",
    "ApiTokenInfo",
    "DeliveryRecorded",
    "IssuedToken",
    "OpenedSession",
    "OrderSummary",
    "OutboxRow",
    "OutboxStatus",
    "PushRecorded",
    "SchemaBehindError",
    "SchemaError",
    "ShipmentConflictError",
    "StorageError",
    "Store",
    "SuppressionReason",
    "TokenNameTakenError",
    "UnknownOrderError",
    "UnmatchedEvent",
    "UnmatchedLimits",
    "current_revision",
    "head_revision",
    "init_db",
    "make_engine",
    "require_current",
    "shown_url",
    "upgrade",
]

"""Tables as schema version 2 left them, where version 3 changed them, and the list's `schema_version` table: to
build an old (pre-Alembic) database in a test.

(The current models describe the latest version; a test that upgrades an old database needs the old shapes.)
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from storage.types import JSONDoc, UTCDateTime

V2 = sa.MetaData()


def _parcel_table(name: str, *rest: sa.SchemaItem) -> sa.Table:
    """A version 2 table about parcels: its own key, then the carrier and tracking number, then `rest`."""
    return sa.Table(
        name,
        V2,
        sa.Column("pk", sa.Integer, primary_key=True),
        sa.Column("carrier", sa.String, nullable=False),
        sa.Column("tracking_number", sa.String, nullable=False),
        *rest,
    )


sa.Table("orders", V2, sa.Column("merchant_id", sa.String), sa.Column("order_id", sa.String))  # FK target only
_parcel_table(
    "shipments",
    sa.Column("merchant_id", sa.String, nullable=False),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("items", JSONDoc, nullable=False),
    sa.Column("shipped_at", UTCDateTime, nullable=True),
    sa.Column("tracking_url", sa.String, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("carrier", "tracking_number", name="uq_shipments_carrier_tracking"),
    sa.ForeignKeyConstraint(
        ["merchant_id", "order_id"], ["orders.merchant_id", "orders.order_id"], name="fk_shipments_order"
    ),
    sa.Index("ix_shipments_order", "merchant_id", "order_id"),
    sa.Index("ix_shipments_tracking_number", "tracking_number"),
)
_parcel_table(
    "tracking_events",
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("source", sa.String, nullable=False),
    sa.Column("event", JSONDoc, nullable=False),
    sa.Column("payload", JSONDoc, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("carrier", "tracking_number", "event_id", name="uq_tracking_events_event"),
    sa.Index("ix_tracking_events_parcel", "carrier", "tracking_number", "occurred_at"),
)
_parcel_table(
    "unmatched_carrier_events",
    sa.Column("payload", JSONDoc, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_unmatched_parcel", "carrier", "tracking_number"),
)
CHANGED_IN_V3 = ("shipments", "tracking_events", "unmatched_carrier_events")
# Columns the models gained in Alembic revisions after the baseline (version 8): table -> columns.
ADDED_AFTER_V8: dict[str, tuple[str, ...]] = {"orders": ("erased_at",)}
# The hand-written list's record of applied versions (Alembic's alembic_version replaced it).
SCHEMA_VERSION = sa.Table(
    "schema_version",
    V2,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)


def legacy_version(engine: sa.Engine) -> int | None:
    """The version the hand-written list recorded last; None once Alembic took over (schema_version dropped)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("schema_version"):
            return None
        return conn.execute(sa.select(sa.func.max(SCHEMA_VERSION.c.version))).scalar()


def insert_shipment(engine: sa.Engine, merchant_id: str, order_id: str, carrier: str, number: str, items: dict) -> None:
    """A parcel as version 2's code recorded it (today's Store writes the version 3 shape)."""
    shipments = V2.tables["shipments"]
    with engine.begin() as conn:
        conn.execute(
            shipments.insert().values(
                carrier=carrier,
                tracking_number=number,
                merchant_id=merchant_id,
                order_id=order_id,
                items=items,
                created_at=datetime.now(UTC),
            )
        )

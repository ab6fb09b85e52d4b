"""The hand-written schema list that came before Alembic (versions 1..8), kept only to upgrade databases it made.

Aftercare's schema is now Alembic's (`storage/alembic/`, `storage.schema`). A database made by the code before that
carries a `schema_version` table with the versions this list applied. The baseline revision
(`storage/alembic/versions/0001_baseline.py`), finding that table, calls `finish_legacy(conn)`: it runs this list's
steps the database has not recorded, in order, in the baseline's transaction, and drops `schema_version` (Alembic's
`alembic_version` is the one record from then on; two records could disagree). The database is then version 8,
which is the baseline's schema, and Alembic stamps it.

Delete this module, and the baseline's call to it, once no database older than the baseline can be around (a
release that requires having run `aftercare db upgrade` on one that had it). Never edit a step here: it describes
what shipped. Nothing else may grow here; a schema change is a new Alembic revision.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from storage.types import JSONDoc, UTCDateTime


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    """Version 1: the first schema. Never runs here: a database with `schema_version` has it."""
    raise ValueError("version 1 is the start of every pre-Alembic database; it cannot be missing from one")


# Version 2's new tables as they were when it shipped: a private copy, so that a later change to the
# models (and the migration that goes with it) cannot change what version 2 does to an old database.
_V2 = sa.MetaData()
sa.Table(
    "api_tokens",
    _V2,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("role", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=True),
    sa.Column("token_hash", sa.String, nullable=False),
    sa.Column("prefix", sa.String, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_used_at", UTCDateTime, nullable=True),
    sa.Column("revoked_at", UTCDateTime, nullable=True),
    sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    sa.Index(
        "uq_api_tokens_active_name",
        "name",
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    ),
)
sa.Table(
    "audit_log",
    _V2,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("entry_id", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=False),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("action", sa.String, nullable=False),
    sa.Column("actor_name", sa.String, nullable=False),
    sa.Column("actor_role", sa.String, nullable=False),
    sa.Column("actor_merchant_id", sa.String, nullable=True),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("outcome", sa.String, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("request", JSONDoc, nullable=False),
    sa.Column("result", JSONDoc, nullable=False),
    sa.Column("before", JSONDoc, nullable=False),
    sa.Column("after", JSONDoc, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("entry_id", name="uq_audit_log_entry"),
    sa.Index("ix_audit_log_order", "merchant_id", "order_id", "at"),
)


def _support_console(conn: Connection) -> None:
    """Version 2: API tokens and the audit log for support actions, and the indexes behind the
    console's order search (by order id alone, by email in any case, by tracking number alone)."""
    _V2.create_all(conn)
    conn.exec_driver_sql("CREATE INDEX ix_orders_order_id ON orders (order_id)")
    conn.exec_driver_sql("CREATE INDEX ix_customers_email_lower ON customers (lower(email))")
    conn.exec_driver_sql("CREATE INDEX ix_shipments_tracking_number ON shipments (tracking_number)")


# Version 3's table as it shipped (see _V2 for why a private copy).
_V3 = sa.MetaData()
sa.Table("api_tokens", _V3, sa.Column("pk", sa.Integer, primary_key=True))  # only for the foreign key
sa.Table(
    "console_sessions",
    _V3,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("session_hash", sa.String, nullable=False),
    sa.Column("token_pk", sa.Integer, sa.ForeignKey("api_tokens.pk"), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("expires_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("session_hash", name="uq_console_sessions_hash"),
    sa.Index("ix_console_sessions_token", "token_pk"),
)


def _console_sessions(conn: Connection) -> None:
    """Version 3: server-side console sessions, so the cookie is no longer the API token itself."""
    _V3.tables["console_sessions"].create(conn)


def _journey_ids(conn: Connection) -> None:
    """Version 4: each order records its journey's workflow id; orders from before it ran under the old
    (ambiguous) `order-{merchant}-{order}` id, which their running journeys keep."""
    conn.exec_driver_sql("ALTER TABLE orders ADD COLUMN workflow_id VARCHAR(300)")
    conn.exec_driver_sql("UPDATE orders SET workflow_id = 'order-' || merchant_id || '-' || order_id")


# Version 5's tables as they were when it shipped (see _V2 for why a private copy).
_V5 = sa.MetaData()
sa.Table("orders", _V5, sa.Column("merchant_id", sa.String), sa.Column("order_id", sa.String))  # FK target only
_V5_SHIPMENTS = sa.Table(
    "shipments",
    _V5,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("carrier", sa.String, nullable=False),
    sa.Column("tracking_number", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=False),
    sa.Column("order_id", sa.String, nullable=False),
    sa.Column("items", JSONDoc, nullable=False),
    sa.Column("shipped_at", UTCDateTime, nullable=True),
    sa.Column("tracking_url", sa.String, nullable=True),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("carrier", "tracking_number", "merchant_id", name="uq_shipments_parcel_merchant"),
    sa.ForeignKeyConstraint(
        ["merchant_id", "order_id"], ["orders.merchant_id", "orders.order_id"], name="fk_shipments_order"
    ),
    sa.Index("ix_shipments_order", "merchant_id", "order_id"),
    sa.Index("ix_shipments_tracking_number", "tracking_number"),
)
_V5_PAYLOADS = sa.Table(
    "carrier_payloads",
    _V5,
    sa.Column("sha256", sa.String(64), primary_key=True),
    sa.Column("carrier", sa.String, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.Index("ix_carrier_payloads_received_at", "received_at"),
)
_V5_UNMATCHED = sa.Table(
    "unmatched_tracking_events",
    _V5,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("carrier", sa.String, nullable=False),
    sa.Column("tracking_number", sa.String, nullable=False),
    sa.Column("event_id", sa.String, nullable=False),
    sa.Column("occurred_at", UTCDateTime, nullable=False),
    sa.Column("event", JSONDoc, nullable=False),
    sa.Column("payload_sha256", sa.String, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("carrier", "tracking_number", "event_id", name="uq_unmatched_tracking_events_event"),
    sa.Index("ix_unmatched_tracking_events_received", "received_at"),
    sa.Index("ix_unmatched_tracking_events_payload", "payload_sha256"),
)
_SHIPMENT_COLUMNS = "pk, carrier, tracking_number, merchant_id, order_id, items, shipped_at, tracking_url, created_at"


def _tenant_parcels(conn: Connection) -> None:
    """Version 5 (issue 8): tracking numbers unique per merchant, carrier bodies stored once, unmatched
    events bounded.

    - shipments: UNIQUE (carrier, tracking_number) becomes UNIQUE (carrier, tracking_number, merchant_id).
      SQLite cannot drop a constraint, so there the table is rebuilt (same rows, same pks).
    - carrier_payloads: new; each webhook body once, by SHA-256. The bodies tracking_events carried in their
      `payload` column move there (as their JSON text) and the column goes; rows point at them instead.
    - unmatched_tracking_events replaces unmatched_carrier_events: one row per scan instead of a whole body
      per delivery. The old rows are dropped: nothing ever read them, and a parcel's tracking asks its
      carrier for every scan when it starts.
    """
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ALTER TABLE shipments DROP CONSTRAINT uq_shipments_carrier_tracking")
        conn.exec_driver_sql(
            "ALTER TABLE shipments ADD CONSTRAINT uq_shipments_parcel_merchant "
            "UNIQUE (carrier, tracking_number, merchant_id)"
        )
    else:
        conn.exec_driver_sql("DROP INDEX ix_shipments_order")
        conn.exec_driver_sql("DROP INDEX ix_shipments_tracking_number")
        conn.exec_driver_sql("ALTER TABLE shipments RENAME TO shipments_before_v5")
        _V5_SHIPMENTS.create(conn)
        conn.exec_driver_sql(
            f"INSERT INTO shipments ({_SHIPMENT_COLUMNS}) SELECT {_SHIPMENT_COLUMNS} FROM shipments_before_v5"
        )
        conn.exec_driver_sql("DROP TABLE shipments_before_v5")

    _V5_PAYLOADS.create(conn)
    _V5_UNMATCHED.create(conn)
    conn.exec_driver_sql("DROP TABLE unmatched_carrier_events")
    conn.exec_driver_sql("ALTER TABLE tracking_events ADD COLUMN payload_sha256 VARCHAR")
    conn.exec_driver_sql("CREATE INDEX ix_tracking_events_payload ON tracking_events (payload_sha256)")
    _move_event_payloads(conn)
    conn.exec_driver_sql("ALTER TABLE tracking_events DROP COLUMN payload")


def _move_event_payloads(conn: Connection, batch: int = 500) -> None:
    """Each distinct body that tracking_events rows carried, once into carrier_payloads; rows point at it."""
    events = sa.table(
        "tracking_events",
        sa.column("pk", sa.Integer),
        sa.column("carrier", sa.String),
        sa.column("payload", JSONDoc),
        sa.column("payload_sha256", sa.String),
        sa.column("received_at", UTCDateTime),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(events.c.pk, events.c.carrier, events.c.payload, events.c.received_at)
            .where(events.c.pk > last, events.c.payload.is_not(None))
            .order_by(events.c.pk)
            .limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
            digest = hashlib.sha256(body).hexdigest()
            known = conn.execute(sa.select(_V5_PAYLOADS.c.sha256).where(_V5_PAYLOADS.c.sha256 == digest)).first()
            if known is None:
                conn.execute(
                    _V5_PAYLOADS.insert().values(
                        sha256=digest, carrier=row.carrier, size=len(body), body=body, received_at=row.received_at
                    )
                )
            conn.execute(events.update().where(events.c.pk == row.pk).values(payload_sha256=digest))
        last = rows[-1].pk


# Version 6's table as it was when it shipped (see _V2 for why a private copy).
_V6 = sa.MetaData()
sa.Table(
    "store_deliveries",
    _V6,
    sa.Column("pk", sa.Integer, primary_key=True),
    sa.Column("platform", sa.String, nullable=False),
    sa.Column("shop", sa.String, nullable=False),
    sa.Column("delivery_id", sa.String, nullable=False),
    sa.Column("topic", sa.String, nullable=False),
    sa.Column("merchant_id", sa.String, nullable=False),
    sa.Column("order_id", sa.String, nullable=True),
    sa.Column("outcome", sa.String, nullable=False),
    sa.Column("order_updated_at", UTCDateTime, nullable=True),
    sa.Column("received_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("platform", "shop", "delivery_id", name="uq_store_deliveries_delivery"),
    sa.Index("ix_store_deliveries_order", "merchant_id", "order_id"),
)


def _store_deliveries(conn: Connection) -> None:
    """Version 6 (issue 10): store webhook deliveries, so a retried one changes nothing and an older order
    update is told from a newer one."""
    _V6.tables["store_deliveries"].create(conn, checkfirst=True)


def _delivery_callbacks(conn: Connection) -> None:
    """Version 7 (issue 10): what providers' delivery callbacks said of each message, and the index they find
    a message by (the provider's message id)."""
    conn.exec_driver_sql("ALTER TABLE messages ADD COLUMN delivery_status VARCHAR")
    timestamp = "TIMESTAMP WITH TIME ZONE" if conn.dialect.name == "postgresql" else "DATETIME"
    conn.exec_driver_sql(f"ALTER TABLE messages ADD COLUMN delivery_at {timestamp}")
    conn.exec_driver_sql("ALTER TABLE messages ADD COLUMN delivery_detail TEXT")
    conn.exec_driver_sql("CREATE INDEX ix_messages_provider_message_id ON messages (provider_message_id)")


def _shipment_providers(conn: Connection) -> None:
    """Version 8 (issue 10): shipments.provider, the tracking provider beside the carrier the customer knows.
    Existing rows keep NULL: their `carrier` names the provider, as it always did (`Shipment.tracked_via`)."""
    conn.exec_driver_sql("ALTER TABLE shipments ADD COLUMN provider VARCHAR")


MIGRATIONS: list[Migration] = [
    Migration(1, "baseline: merchants, customers, orders, shipments, tracking, outbox, suppressions", _baseline),
    Migration(2, "support console: api_tokens, audit_log, order search indexes", _support_console),
    Migration(3, "console sessions: console_sessions", _console_sessions),
    Migration(4, "orders.workflow_id: the journey each order runs under", _journey_ids),
    Migration(5, "tenant parcels: numbers per merchant, carrier bodies once, bounded unmatched", _tenant_parcels),
    Migration(6, "store webhooks: store_deliveries (dedupe by delivery id, order updates in order)", _store_deliveries),
    Migration(
        7, "delivery callbacks: messages.delivery_status/_at/_detail, index on provider_message_id", _delivery_callbacks
    ),
    Migration(8, "shipments.provider: the tracking provider beside the carrier", _shipment_providers),
]

# The version table as the list kept it (no model any more: Alembic's alembic_version took its place).
_VERSION = sa.Table(
    "schema_version",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)
VERSION_TABLE = _VERSION.name


def latest_version() -> int:
    return MIGRATIONS[-1].version


def finish_legacy(conn: Connection) -> list[int]:
    """Run the steps a pre-Alembic database has not recorded, in order, on `conn` (inside the caller's
    transaction), then drop `schema_version`. Returns the versions run. Raises ValueError when the table says
    something this list cannot continue from (the caller turns it into a SchemaError)."""
    versions = [m.version for m in MIGRATIONS]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"storage.migrations.MIGRATIONS must be numbered 1, 2, 3...; found {versions}")
    applied = set(conn.execute(sa.select(_VERSION.c.version)).scalars())
    if not applied:
        raise ValueError(
            "the database has a schema_version table with no rows: it was not made by Aftercare's init_db. "
            "Point AFTERCARE_DATABASE_URL at an empty database, or restore a backup."
        )
    unknown = sorted(v for v in applied if v > latest_version())
    if unknown:
        raise ValueError(
            f"schema_version lists versions {unknown}, beyond the last hand-written one ({latest_version()}): "
            "that database was not made by a released Aftercare. Restore a backup."
        )
    pending = [m for m in MIGRATIONS if m.version not in applied]
    for migration in pending:
        migration.apply(conn)
    _VERSION.drop(conn)
    return [m.version for m in pending]

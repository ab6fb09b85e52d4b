"""Schema versions, explicit and ordered.

How it works:
- A fresh database gets the current schema straight from the models (`create_all`) and every
  migration below is recorded as applied: there is nothing to upgrade.
- An existing database gets, in order, each migration it has not recorded yet, each in the same
  transaction as its `schema_version` row (DDL is transactional on PostgreSQL and SQLite).

The rule when you change a table: change the model in `storage.tables` AND append a `Migration`
that brings an existing database to the same shape (plain `ALTER TABLE ...` through `conn`). Never
edit or renumber a migration that has shipped.

API and worker may start together: PostgreSQL takes an advisory lock, SQLite the write lock
(`BEGIN IMMEDIATE`), so exactly one of them migrates and the other sees the result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from storage import tables
from storage.types import JSONDoc, UTCDateTime, utcnow

# Any 64-bit number unique to Aftercare's schema lock; "aftercar" in ASCII.
_PG_LOCK_KEY = 0x6166746572636172


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    """Version 1: the first schema. Only ever runs via the fresh-database path today."""
    SQLModel.metadata.create_all(conn)


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


def _reserved_for_store_webhooks(conn: Connection) -> None:
    """Version 6 is the Shopify work's (issue 10, merged separately): a no-op here so that 7 follows 6."""


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
    Migration(6, "reserved: the store webhooks' migration (a no-op on this branch)", _reserved_for_store_webhooks),
    Migration(
        7, "delivery callbacks: messages.delivery_status/_at/_detail, index on provider_message_id", _delivery_callbacks
    ),
    Migration(8, "shipments.provider: the tracking provider beside the carrier", _shipment_providers),
]

_VERSION = tables.SchemaVersionRow.__table__  # type: ignore[attr-defined]  # SQLModel adds __table__ at class creation


class SchemaError(RuntimeError):
    """The database is not in a state this code can work with; the message says why and what to do."""


def latest_version() -> int:
    return MIGRATIONS[-1].version


def _check_list() -> None:
    versions = [m.version for m in MIGRATIONS]
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError(f"storage.migrations.MIGRATIONS must be numbered 1, 2, 3...; found {versions}")


def apply_migrations(engine: Engine) -> int:
    """Bring the database to `latest_version()`; returns it. Pass a writer engine (see storage.db)."""
    _check_list()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        inspector = sa.inspect(conn)
        if not inspector.has_table(_VERSION.name):
            ours = set(SQLModel.metadata.tables) - {_VERSION.name}
            present = sorted(ours & set(inspector.get_table_names()))
            if present:
                raise SchemaError(
                    f"database has Aftercare tables ({', '.join(present)}) but no schema_version table; "
                    "it was not created by init_db. Point AFTERCARE_DATABASE_URL at an empty database."
                )
            SQLModel.metadata.create_all(conn)
            _record(conn, MIGRATIONS)
            return latest_version()

        applied = set(conn.execute(sa.select(_VERSION.c.version)).scalars())
        unknown = sorted(v for v in applied if v > latest_version())
        if unknown:
            raise SchemaError(
                f"database schema has versions {unknown} this code does not know (it knows up to "
                f"{latest_version()}): it was migrated by a newer Aftercare. Upgrade this one."
            )
        pending = [m for m in MIGRATIONS if m.version not in applied]
        for migration in pending:
            migration.apply(conn)
            _record(conn, [migration])
    return latest_version()


def current_version(engine: Engine) -> int | None:
    """The highest applied version, or None for a database init_db never touched."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_VERSION.name):
            return None
        return conn.execute(sa.select(sa.func.max(_VERSION.c.version))).scalar()


def _record(conn: Connection, migrations: list[Migration]) -> None:
    now = utcnow()
    conn.execute(
        _VERSION.insert(),
        [{"version": m.version, "name": m.name, "applied_at": now} for m in migrations],
    )

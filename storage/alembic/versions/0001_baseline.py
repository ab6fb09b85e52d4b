"""Baseline: the schema as the hand-written list's version 8 left it (issue 11 moved the schema to Alembic).

Three cases, told apart by what the database holds:
- empty: the tables below are created (a frozen copy of version 8: later model changes are later revisions);
- a `schema_version` table (made by Aftercare before Alembic, at any version 1..8): the old list's steps the database
  has not recorded run here, in this transaction, and `schema_version` is dropped (storage.migrations);
  the database then has exactly the tables below and is stamped with this revision;
- Aftercare's tables without `schema_version`: refused (not made by Aftercare; nothing is touched).

Revision ID: 0001
Revises:
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage import migrations
from storage.types import ExactDecimal, JSONDoc, UTCDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "api_tokens",
    "audit_log",
    "carrier_payloads",
    "console_sessions",
    "customers",
    "merchants",
    "messages",
    "orders",
    "shipments",
    "store_deliveries",
    "suppressions",
    "tracking_events",
    "unmatched_tracking_events",
)


def upgrade() -> None:
    conn = op.get_bind()
    present = set(sa.inspect(conn).get_table_names())
    if migrations.VERSION_TABLE in present:
        try:
            migrations.finish_legacy(conn)
        except ValueError as err:
            from storage.schema import SchemaError

            raise SchemaError(str(err)) from None
        return
    ours = sorted(present & {*TABLES, "unmatched_carrier_events"})
    if ours:
        from storage.schema import SchemaError

        raise SchemaError(
            f"the database has Aftercare tables ({', '.join(ours)}) but neither alembic_version nor schema_version: "
            "it was not made by Aftercare. Point AFTERCARE_DATABASE_URL at an empty database."
        )
    _create_version_8()


def _create_version_8() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=True),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("prefix", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_used_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index(
        "uq_api_tokens_active_name",
        "api_tokens",
        ["name"],
        unique=True,
        sqlite_where=sa.text("revoked_at IS NULL"),
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "audit_log",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("actor_name", sa.String(), nullable=False),
        sa.Column("actor_role", sa.String(), nullable=False),
        sa.Column("actor_merchant_id", sa.String(), nullable=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request", JSONDoc, nullable=False),
        sa.Column("result", JSONDoc, nullable=False),
        sa.Column("before", JSONDoc, nullable=False),
        sa.Column("after", JSONDoc, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("entry_id", name="uq_audit_log_entry"),
    )
    op.create_index("ix_audit_log_order", "audit_log", ["merchant_id", "order_id", "at"], unique=False)
    op.create_table(
        "carrier_payloads",
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("carrier", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("sha256"),
    )
    op.create_index(op.f("ix_carrier_payloads_received_at"), "carrier_payloads", ["received_at"], unique=False)
    op.create_table(
        "merchants",
        sa.Column("id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("policy_hash", sa.String(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "messages",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("step", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=True),
        sa.Column("marketing", sa.Boolean(), nullable=False),
        sa.Column("policy_hash", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("skip_reason", sa.String(), nullable=True),
        sa.Column("provider_message_id", sa.String(), nullable=True),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("delivery_status", sa.String(), nullable=True),
        sa.Column("delivery_at", UTCDateTime(), nullable=True),
        sa.Column("delivery_detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(
        "ix_messages_cap",
        "messages",
        ["merchant_id", "customer_id", "channel", "marketing", "requested_at"],
        unique=False,
    )
    op.create_index("ix_messages_order", "messages", ["merchant_id", "order_id"], unique=False)
    op.create_index("ix_messages_provider_message_id", "messages", ["provider_message_id"], unique=False)
    op.create_table(
        "store_deliveries",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(), nullable=False),
        sa.Column("shop", sa.String(), nullable=False),
        sa.Column("delivery_id", sa.String(), nullable=False),
        sa.Column("topic", sa.String(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=True),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("order_updated_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("platform", "shop", "delivery_id", name="uq_store_deliveries_delivery"),
    )
    op.create_index("ix_store_deliveries_order", "store_deliveries", ["merchant_id", "order_id"], unique=False)
    op.create_table(
        "suppressions",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("channel", "recipient", name="uq_suppressions_channel_recipient"),
    )
    op.create_table(
        "tracking_events",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(), nullable=False),
        sa.Column("tracking_number", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("event", JSONDoc, nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("payload_sha256", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("carrier", "tracking_number", "event_id", name="uq_tracking_events_event"),
    )
    op.create_index(
        "ix_tracking_events_parcel", "tracking_events", ["carrier", "tracking_number", "occurred_at"], unique=False
    )
    op.create_index("ix_tracking_events_payload", "tracking_events", ["payload_sha256"], unique=False)
    op.create_table(
        "unmatched_tracking_events",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(), nullable=False),
        sa.Column("tracking_number", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        sa.Column("event", JSONDoc, nullable=False),
        sa.Column("payload_sha256", sa.String(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("carrier", "tracking_number", "event_id", name="uq_unmatched_tracking_events_event"),
    )
    op.create_index(
        "ix_unmatched_tracking_events_payload", "unmatched_tracking_events", ["payload_sha256"], unique=False
    )
    op.create_index("ix_unmatched_tracking_events_received", "unmatched_tracking_events", ["received_at"], unique=False)
    op.create_table(
        "console_sessions",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(), nullable=False),
        sa.Column("token_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["token_pk"],
            ["api_tokens.pk"],
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("session_hash", name="uq_console_sessions_hash"),
    )
    op.create_index("ix_console_sessions_token", "console_sessions", ["token_pk"], unique=False)
    op.create_table(
        "customers",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("first_name", sa.String(), nullable=True),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("locale", sa.String(), nullable=True),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("marketing_consent", sa.Boolean(), nullable=False),
        sa.Column("whatsapp_opt_in", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("merchant_id", "customer_id", name="uq_customers_merchant_customer"),
    )
    op.create_index("ix_customers_email_lower", "customers", [sa.text("lower(email)")], unique=False)
    op.create_table(
        "orders",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("customer_id", sa.String(), nullable=False),
        sa.Column("placed_at", UTCDateTime(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("total", ExactDecimal(), nullable=False),
        sa.Column("order_json", JSONDoc, nullable=False),
        sa.Column("raw_payload", JSONDoc, nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("workflow_id", sa.String(300), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.customer_id"],
            name="fk_orders_customer",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("merchant_id", "order_id", name="uq_orders_merchant_order"),
    )
    op.create_index("ix_orders_order_id", "orders", ["order_id"], unique=False)
    op.create_table(
        "shipments",
        sa.Column("pk", sa.Integer(), nullable=False),
        sa.Column("carrier", sa.String(), nullable=False),
        sa.Column("tracking_number", sa.String(), nullable=False),
        sa.Column("merchant_id", sa.String(), nullable=False),
        sa.Column("order_id", sa.String(), nullable=False),
        sa.Column("items", JSONDoc, nullable=False),
        sa.Column("shipped_at", UTCDateTime(), nullable=True),
        sa.Column("tracking_url", sa.String(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("provider", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"], ["orders.merchant_id", "orders.order_id"], name="fk_shipments_order"
        ),
        sa.PrimaryKeyConstraint("pk"),
        sa.UniqueConstraint("carrier", "tracking_number", "merchant_id", name="uq_shipments_parcel_merchant"),
    )
    op.create_index("ix_shipments_order", "shipments", ["merchant_id", "order_id"], unique=False)
    op.create_index("ix_shipments_tracking_number", "shipments", ["tracking_number"], unique=False)


def downgrade() -> None:
    raise RuntimeError(
        "downgrading below the baseline would drop every table and all data in them: restore a backup instead"
    )

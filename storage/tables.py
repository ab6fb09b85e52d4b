"""The tables, as sqlmodel classes. Rows are storage's business: the rest of Aftercare sees `domain`
models and the small records `storage.repository` returns.

Choices worth knowing:
- every timestamp is `UTCDateTime` (aware in, aware UTC out, on SQLite too);
- enum-valued columns are plain strings holding the enum's value (no database ENUM types, so adding a
  step or a status is not a migration);
- natural keys carry UNIQUE constraints, which is what makes repeated webhooks and retried activities
  harmless (`INSERT ... ON CONFLICT DO NOTHING` in the repository leans on them).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from storage.types import ExactDecimal, JSONDoc, UTCDateTime, utcnow


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_type=UTCDateTime, nullable=nullable, index=index)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class MerchantRow(SQLModel, table=True):
    __tablename__ = "merchants"

    id: str = Field(primary_key=True)
    name: str
    policy_hash: str | None = None
    updated_at: datetime = _created()


class CustomerRow(SQLModel, table=True):
    """Latest known contact details of a buyer, per merchant (customer ids are the merchant's)."""

    __tablename__ = "customers"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "customer_id", name="uq_customers_merchant_customer"),)

    pk: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchants.id")
    customer_id: str
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None
    marketing_consent: bool = False
    whatsapp_opt_in: bool = False
    created_at: datetime = _created()
    updated_at: datetime = _created()


# The support console finds a customer's orders by email, whatever its case (migration 2).
sa.Index("ix_customers_email_lower", sa.func.lower(CustomerRow.__table__.c.email))  # type: ignore[attr-defined]  # SQLModel adds __table__ at class creation


class OrderRow(SQLModel, table=True):
    """An order as first received: `order_json` is the validated domain.Order, `raw_payload` what came in."""

    __tablename__ = "orders"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "order_id", name="uq_orders_merchant_order"),
        sa.ForeignKeyConstraint(
            ["merchant_id", "customer_id"],
            ["customers.merchant_id", "customers.customer_id"],
            name="fk_orders_customer",
        ),
        sa.Index("ix_orders_order_id", "order_id"),  # the support console's search box (migration 2)
    )

    pk: int | None = Field(default=None, primary_key=True)
    merchant_id: str = Field(foreign_key="merchants.id")
    order_id: str
    customer_id: str
    placed_at: datetime = _ts()
    currency: str = Field(max_length=3)
    total: Decimal = Field(sa_type=ExactDecimal)
    order_json: dict[str, Any] = Field(sa_type=JSONDoc)
    raw_payload: dict[str, Any] = Field(sa_type=JSONDoc)
    created_at: datetime = _created()
    # The id its journey runs under (migration 3): orders taken before journey ids became unambiguous keep
    # their old-style id, so a repeated webhook finds their running journey instead of starting another.
    workflow_id: str | None = Field(default=None, max_length=300)
    # When an operator erased the customer's personal data from this order (`aftercare customer forget`, revision
    # 0002): its messages are skipped from then on, whatever the running journey still holds.
    erased_at: datetime | None = _ts(nullable=True)


class ShipmentRow(SQLModel, table=True):
    """One parcel. A tracking number belongs to one order of its merchant (another merchant may use the same
    number: numbers are unique per merchant, migration 3); `items` maps line item id -> quantity."""

    __tablename__ = "shipments"
    __table_args__ = (
        # carrier + number first: a carrier webhook finds every merchant's parcel by them
        sa.UniqueConstraint("carrier", "tracking_number", "merchant_id", name="uq_shipments_parcel_merchant"),
        sa.ForeignKeyConstraint(
            ["merchant_id", "order_id"],
            ["orders.merchant_id", "orders.order_id"],
            name="fk_shipments_order",
        ),
        sa.Index("ix_shipments_order", "merchant_id", "order_id"),
        sa.Index("ix_shipments_tracking_number", "tracking_number"),  # search by number alone (migration 2)
    )

    pk: int | None = Field(default=None, primary_key=True)
    carrier: str
    tracking_number: str
    merchant_id: str
    order_id: str
    items: dict[str, Any] = Field(sa_type=JSONDoc)
    shipped_at: datetime | None = _ts(nullable=True)
    tracking_url: str | None = None
    created_at: datetime = _created()
    provider: str | None = None  # the tracking provider (migration 8); NULL: `carrier` names it (older rows)


class CarrierPayloadRow(SQLModel, table=True):
    """A carrier webhook's raw body, kept once however many scans it carries or how often it comes (migration 3).

    Keyed by the SHA-256 of the bytes; events point at it. Kept while an event points at it.
    """

    __tablename__ = "carrier_payloads"

    sha256: str = Field(primary_key=True, max_length=64)
    carrier: str
    size: int
    body: bytes = Field(sa_type=sa.LargeBinary)
    received_at: datetime = _ts(index=True)


class TrackingEventRow(SQLModel, table=True):
    """One normalised scan of a known parcel, stored once however often carriers repeat it (webhook and poll
    alike). `payload_sha256` names the webhook body it came in (carrier_payloads), if any.

    No foreign key to shipments on purpose: recording what a carrier said must never fail.
    """

    __tablename__ = "tracking_events"
    __table_args__ = (
        sa.UniqueConstraint("carrier", "tracking_number", "event_id", name="uq_tracking_events_event"),
        sa.Index("ix_tracking_events_parcel", "carrier", "tracking_number", "occurred_at"),
        sa.Index("ix_tracking_events_payload", "payload_sha256"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    carrier: str
    tracking_number: str
    event_id: str
    status: str
    occurred_at: datetime = _ts()
    source: str  # 'webhook' | 'poll'
    event: dict[str, Any] = Field(sa_type=JSONDoc)  # the whole domain.TrackingEvent
    received_at: datetime = _created()
    payload_sha256: str | None = None  # the webhook body it came in, if any (last: migration 3 added it)


class UnmatchedEventRow(SQLModel, table=True):
    """A scan pushed for a tracking number no merchant has registered (yet), once per event id (migration 3).

    The parcel's tracking claims these at its first poll (they move to tracking_events). Bounded per parcel and
    in total, and expired: see `Store.record_carrier_push` and `Store.expire_unmatched_events`.
    """

    __tablename__ = "unmatched_tracking_events"
    __table_args__ = (
        sa.UniqueConstraint("carrier", "tracking_number", "event_id", name="uq_unmatched_tracking_events_event"),
        sa.Index("ix_unmatched_tracking_events_received", "received_at"),
        sa.Index("ix_unmatched_tracking_events_payload", "payload_sha256"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    carrier: str
    tracking_number: str
    event_id: str
    occurred_at: datetime = _ts()
    event: dict[str, Any] = Field(sa_type=JSONDoc)  # the whole domain.TrackingEvent
    payload_sha256: str | None = None
    received_at: datetime = _created()


class MessageRow(SQLModel, table=True):
    """The outbox: one row per message we meant to send, unique on the workflow's idempotency key."""

    __tablename__ = "messages"
    __table_args__ = (
        sa.Index("ix_messages_order", "merchant_id", "order_id"),
        sa.Index("ix_messages_cap", "merchant_id", "customer_id", "channel", "marketing", "requested_at"),
        sa.Index("ix_messages_provider_message_id", "provider_message_id"),  # delivery callbacks (migration 7)
    )

    pk: int | None = Field(default=None, primary_key=True)
    idempotency_key: str = Field(unique=True)
    merchant_id: str
    order_id: str
    customer_id: str
    step: str
    channel: str
    recipient: str | None = None
    marketing: bool = False
    policy_hash: str | None = None
    status: str  # see storage.repository.OutboxStatus
    skip_reason: str | None = None
    provider_message_id: str | None = None
    requested_at: datetime = _ts()
    sent_at: datetime | None = _ts(nullable=True)
    attempts: int = 0
    detail: str = Field(default="", sa_type=sa.Text)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    # What the provider's delivery callbacks said last (migration 7): a domain.delivery.DeliveryStatus value,
    # when it happened (the provider's clock) and its words. Only ever moves up DELIVERY_RANK.
    delivery_status: str | None = None
    delivery_at: datetime | None = _ts(nullable=True)
    delivery_detail: str | None = Field(default=None, sa_type=sa.Text)


class SuppressionRow(SQLModel, table=True):
    """An address we must not write to again on this channel: it opted out, or it bounced."""

    __tablename__ = "suppressions"
    __table_args__ = (sa.UniqueConstraint("channel", "recipient", name="uq_suppressions_channel_recipient"),)

    pk: int | None = Field(default=None, primary_key=True)
    channel: str
    recipient: str
    reason: str  # a storage.records.SuppressionReason value: 'opted_out' | 'bounced' | 'no_marketing'
    created_at: datetime = _created()


class ApiTokenRow(SQLModel, table=True):
    """A named API token. Only the sha256 of the token is kept: a leaked database holds no usable token.

    Names are unique among active tokens, so a person's token can be rotated (revoke, then create it
    again under the same name) while the audit log keeps naming the same person.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
        sa.Index(
            "uq_api_tokens_active_name",
            "name",
            unique=True,
            sqlite_where=sa.text("revoked_at IS NULL"),
            postgresql_where=sa.text("revoked_at IS NULL"),
        ),
    )

    pk: int | None = Field(default=None, primary_key=True)
    name: str
    role: str  # a domain.Role value
    merchant_id: str | None = None  # set for merchant tokens only
    token_hash: str  # sha256 hex of the whole token
    prefix: str  # the token's first characters, to tell tokens apart in listings
    created_at: datetime = _created()
    last_used_at: datetime | None = _ts(nullable=True)
    revoked_at: datetime | None = _ts(nullable=True)


class ConsoleSessionRow(SQLModel, table=True):
    """A signed-in browser: the console cookie carries a random session id, the database only its sha256.

    Tied to the API token it was opened with (a revoked token ends its sessions); it ends at logout (the row
    is deleted), after `idle` without a request, or at `expires_at` whatever happens.
    """

    __tablename__ = "console_sessions"
    __table_args__ = (
        sa.UniqueConstraint("session_hash", name="uq_console_sessions_hash"),
        sa.Index("ix_console_sessions_token", "token_pk"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    session_hash: str  # sha256 hex of the session id
    token_pk: int = Field(foreign_key="api_tokens.pk")
    created_at: datetime = _created()
    last_seen_at: datetime = _ts()
    expires_at: datetime = _ts()


class AuditLogRow(SQLModel, table=True):
    """One action a person took on an order (a domain.AuditEntry), unique on its entry id."""

    __tablename__ = "audit_log"
    __table_args__ = (
        sa.UniqueConstraint("entry_id", name="uq_audit_log_entry"),
        sa.Index("ix_audit_log_order", "merchant_id", "order_id", "at"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    entry_id: str
    merchant_id: str
    order_id: str
    action: str
    actor_name: str
    actor_role: str
    actor_merchant_id: str | None = None
    at: datetime = _ts()
    outcome: str  # 'done' | 'refused' | 'failed' | 'unknown' | 'timed_out'
    reason: str = Field(default="", sa_type=sa.Text)
    request: dict[str, Any] = Field(sa_type=JSONDoc)
    result: dict[str, Any] = Field(sa_type=JSONDoc)
    before: dict[str, Any] = Field(sa_type=JSONDoc)
    after: dict[str, Any] = Field(sa_type=JSONDoc)
    recorded_at: datetime = _created()


class StoreDeliveryRow(SQLModel, table=True):
    """A store webhook delivery we acted on, once per (platform, shop, delivery id) (migration 6): the store
    retries a delivery under the same id (Shopify: `X-Shopify-Webhook-Id`), so a retry finds it and changes
    nothing. `order_updated_at` is the store's own time of the order change it carried: an update older than
    the newest we hold changes nothing (stores deliver out of order)."""

    __tablename__ = "store_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("platform", "shop", "delivery_id", name="uq_store_deliveries_delivery"),
        sa.Index("ix_store_deliveries_order", "merchant_id", "order_id"),
    )

    pk: int | None = Field(default=None, primary_key=True)
    platform: str
    shop: str
    delivery_id: str
    topic: str
    merchant_id: str
    order_id: str | None = None
    outcome: str = ""
    order_updated_at: datetime | None = _ts(nullable=True)
    received_at: datetime = _created()

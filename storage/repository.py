"""`Store`: the typed, synchronous doorway to the database.

Every method is one transaction. Methods the outside world may repeat (webhooks, retried
activities) are idempotent: they lean on UNIQUE constraints with `INSERT ... ON CONFLICT DO NOTHING`,
which is race-safe on both backends without turning a duplicate into an error. The API calls these
methods from a threadpool, activities through `asyncio.to_thread`.

Datetimes go in aware and come out aware in UTC (see storage.types.UTCDateTime).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from domain import (
    Actor,
    AuditEntry,
    Channel,
    Customer,
    MessageRequest,
    Order,
    Role,
    Shipment,
    SkipReason,
    Step,
    TrackingEvent,
    journey_id,
)
from storage import tables
from storage.db import init_db, make_engine, writer
from storage.types import utcnow

_MERCHANTS: sa.Table = tables.MerchantRow.__table__  # type: ignore[attr-defined]
_CUSTOMERS: sa.Table = tables.CustomerRow.__table__  # type: ignore[attr-defined]
_ORDERS: sa.Table = tables.OrderRow.__table__  # type: ignore[attr-defined]
_SHIPMENTS: sa.Table = tables.ShipmentRow.__table__  # type: ignore[attr-defined]
_EVENTS: sa.Table = tables.TrackingEventRow.__table__  # type: ignore[attr-defined]
_UNMATCHED: sa.Table = tables.UnmatchedEventRow.__table__  # type: ignore[attr-defined]
_PAYLOADS: sa.Table = tables.CarrierPayloadRow.__table__  # type: ignore[attr-defined]
_MESSAGES: sa.Table = tables.MessageRow.__table__  # type: ignore[attr-defined]
_SUPPRESSIONS: sa.Table = tables.SuppressionRow.__table__  # type: ignore[attr-defined]
_TOKENS: sa.Table = tables.ApiTokenRow.__table__  # type: ignore[attr-defined]
_AUDIT: sa.Table = tables.AuditLogRow.__table__  # type: ignore[attr-defined]
_SESSIONS: sa.Table = tables.ConsoleSessionRow.__table__  # type: ignore[attr-defined]

TRACKING_SOURCES = ("webhook", "poll")

# Tokens read "ac_<role>_<secret>", so a token pasted into a chat or a log says what it opens.
ROLE_SHORT: dict[Role, str] = {Role.SUPPORT: "sup", Role.MERCHANT: "mer", Role.ENGINEER: "eng", Role.ADMIN: "adm"}
TOKEN_PREFIX_SECRET_CHARS = 4  # how much of the secret part a listing shows: enough to tell tokens apart
# last_used_at is a hint for people, not an access log: refresh it at most this often, so that a busy
# token does not turn every authenticated request into a write (on SQLite, a wait for the write lock).
LAST_USED_RESOLUTION = timedelta(minutes=1)


class StorageError(Exception):
    """Base of the errors the Store raises on purpose (bad references, conflicting facts)."""


class UnknownOrderError(StorageError, LookupError):
    pass


class ShipmentConflictError(StorageError):
    """The tracking number is already recorded for a different order of the same merchant."""


@dataclass(frozen=True)
class UnmatchedLimits:
    """How much of what carriers push for tracking numbers nobody registered is kept, and for how long.

    Beyond `per_parcel` scans of one carrier + tracking number the oldest scans (by when they happened) go;
    beyond `total` rows the oldest received go. Rows older than `keep_for` expire (AfterShip's 30 days: a
    parcel not registered by then is not coming). `expire_every` throttles the expiry a push runs.
    """

    per_parcel: int = 200
    total: int = 50_000
    keep_for: timedelta = timedelta(days=30)
    expire_every: timedelta = timedelta(minutes=10)


@dataclass(frozen=True)
class PushRecorded:
    """What `record_carrier_push` did: every merchant's parcel per tracking number (empty: nobody's yet),
    the scans new to the database, and whether the body was written (False: a repeat, nothing new)."""

    owners: dict[str, list[tuple[str, str]]]
    new_events: int
    body_stored: bool


class TokenNameTakenError(StorageError):
    """An active API token already has this name."""


class OutboxStatus(StrEnum):
    """Where one outbox row is.

    pending --mark_sending--> sending --mark_sent--> sent
                                      --mark_unconfirmed--> sent (provider_message_id NULL, detail 'unconfirmed: ...')
                                      --mark_failed--> failed --mark_sending--> sending (a retry)
    pending/failed/sending --mark_skipped--> skipped
    sent (unconfirmed) --mark_sent--> sent (a late confirmation fills in the provider id)
    sent and skipped are final.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"
    FAILED = "failed"


FINAL_OUTBOX_STATUSES = frozenset({OutboxStatus.SENT, OutboxStatus.SKIPPED})


class SuppressionReason(StrEnum):
    OPTED_OUT = "opted_out"
    BOUNCED = "bounced"


class OutboxRow(BaseModel):
    """One outbox row, detached from the database."""

    model_config = ConfigDict(frozen=True)

    idempotency_key: str
    merchant_id: str
    order_id: str
    customer_id: str
    step: Step
    channel: Channel
    recipient: str | None
    marketing: bool
    policy_hash: str | None
    status: OutboxStatus
    skip_reason: SkipReason | None
    provider_message_id: str | None
    requested_at: datetime
    sent_at: datetime | None
    attempts: int
    detail: str
    created_at: datetime
    updated_at: datetime


class UnmatchedEvent(BaseModel):
    """A pushed scan for a parcel nobody had registered when it arrived; its body is in carrier_payloads."""

    model_config = ConfigDict(frozen=True)

    id: int
    event: TrackingEvent
    payload_sha256: str | None
    received_at: datetime


class IssuedToken(BaseModel):
    """A token just created. `token` is the only copy of the secret there will ever be: show it once."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    merchant_id: str | None
    token: str = Field(repr=False)  # never in a repr, so never in a log line or a traceback by accident
    prefix: str


class ApiTokenInfo(BaseModel):
    """What a listing shows of a token: everything but the secret and its hash."""

    model_config = ConfigDict(frozen=True)

    name: str
    role: Role
    merchant_id: str | None
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class OpenedSession(BaseModel):
    """A console session just opened. `session_id` is the cookie's value and the only copy there is."""

    model_config = ConfigDict(frozen=True)

    session_id: str = Field(repr=False)
    actor: Actor
    expires_at: datetime


class OrderSummary(BaseModel):
    """One hit of the support console's search box, and which key it matched on."""

    model_config = ConfigDict(frozen=True)

    merchant_id: str
    order_id: str
    customer_name: str | None
    customer_email: str | None
    placed_at: datetime
    total: Decimal
    currency: str
    matched_by: Literal["order_id", "email", "tracking_number"]


def hash_token(token: str) -> str:
    """sha256 hex: what the database keeps instead of a token. Tokens carry 256 random bits, so a fast
    unsalted hash is enough (there is nothing to brute-force) and it lets a lookup use an index."""
    return hashlib.sha256(token.encode()).hexdigest()


class _Rollback(Exception):
    """Raised inside a transaction to undo it and return `result` from the method."""

    def __init__(self, result: Any) -> None:
        self.result = result


def _insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (same API on SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def normalise_recipient(channel: Channel | str, recipient: str) -> str:
    """Emails compare case-insensitively; phone numbers are E.164 already. One spelling per address."""
    recipient = recipient.strip()
    return recipient.lower() if Channel(channel) is Channel.EMAIL else recipient


def effective_marketing(req: MessageRequest) -> bool:
    """A step the domain calls marketing always counts as marketing, whatever the request says."""
    return req.marketing or req.step.is_marketing


class Store:
    """Typed repository over one engine. Thread-safe: each call checks out its own connection."""

    def __init__(self, engine: Engine, unmatched_limits: UnmatchedLimits | None = None) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self.unmatched_limits = unmatched_limits or UnmatchedLimits()
        self._last_expiry: float | None = None  # time.monotonic() when a push last ran the expiry

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

    # -- merchants, customers, orders ---------------------------------------------------------------

    def upsert_merchant(self, id: str, name: str, policy_hash: str | None) -> None:
        """Record the merchant's display name and the hash of the policy it currently runs."""
        now = utcnow()
        with self._writer.begin() as conn:
            stmt = _insert(conn, _MERCHANTS).values(id=id, name=name, policy_hash=policy_hash, updated_at=now)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["id"], set_={"name": name, "policy_hash": policy_hash, "updated_at": now}
                )
            )

    def record_order(self, order: Order, raw: dict[str, Any]) -> bool:
        """Store a new order with its raw payload; True if it was new.

        The same order again (a repeated webhook) returns False and changes nothing, not even the
        customer's details. A new order creates its merchant if unknown and refreshes the customer's
        contact details and consent to what this order says.
        """
        now = utcnow()
        try:
            with self._writer.begin() as conn:
                if self._order_pk(conn, order.merchant_id, order.order_id) is not None:
                    return False
                conn.execute(
                    _insert(conn, _MERCHANTS)
                    .values(id=order.merchant_id, name=order.merchant_id, policy_hash=None, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["id"])
                )
                customer = order.customer
                details = {
                    "first_name": customer.first_name,
                    "last_name": customer.last_name,
                    "email": customer.email,
                    "phone": customer.phone,
                    "locale": customer.locale,
                    "timezone": customer.timezone,
                    "marketing_consent": customer.marketing_consent,
                    "whatsapp_opt_in": customer.whatsapp_opt_in,
                    "updated_at": now,
                }
                conn.execute(
                    _insert(conn, _CUSTOMERS)
                    .values(merchant_id=order.merchant_id, customer_id=customer.id, created_at=now, **details)
                    .on_conflict_do_update(index_elements=["merchant_id", "customer_id"], set_=details)
                )
                inserted = conn.execute(
                    _insert(conn, _ORDERS)
                    .values(
                        merchant_id=order.merchant_id,
                        order_id=order.order_id,
                        customer_id=customer.id,
                        placed_at=order.placed_at,
                        currency=order.currency,
                        total=order.total,
                        order_json=order.model_dump(mode="json"),
                        raw_payload=raw,
                        created_at=now,
                        workflow_id=order.workflow_id,
                    )
                    .on_conflict_do_nothing(index_elements=["merchant_id", "order_id"])
                    .returning(_ORDERS.c.pk)
                ).first()
                if inserted is None:  # a concurrent call recorded it first: undo our customer update
                    raise _Rollback(False)
                return True
        except _Rollback as undo:
            return bool(undo.result)

    def get_order(self, merchant_id: str, order_id: str) -> Order | None:
        with self.engine.begin() as conn:
            doc = conn.execute(
                sa.select(_ORDERS.c.order_json).where(
                    _ORDERS.c.merchant_id == merchant_id, _ORDERS.c.order_id == order_id
                )
            ).scalar()
        return None if doc is None else Order.model_validate(doc)

    def journey_workflow_id(self, merchant_id: str, order_id: str) -> str | None:
        """The workflow id the order's journey runs under, or None for an order we do not have."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(_ORDERS.c.workflow_id).where(
                    _ORDERS.c.merchant_id == merchant_id, _ORDERS.c.order_id == order_id
                )
            ).first()
        if row is None:
            return None
        return row.workflow_id or journey_id(merchant_id, order_id)

    def get_raw_order(self, merchant_id: str, order_id: str) -> dict[str, Any] | None:
        """The payload exactly as the store sent it: for support and for re-parsing after a fix."""
        with self.engine.begin() as conn:
            return conn.execute(
                sa.select(_ORDERS.c.raw_payload).where(
                    _ORDERS.c.merchant_id == merchant_id, _ORDERS.c.order_id == order_id
                )
            ).scalar()

    def merchants_with_order(self, order_id: str) -> list[str]:
        """Merchants that have an order with this id (order ids are only unique per merchant)."""
        with self.engine.begin() as conn:
            return list(
                conn.execute(
                    sa.select(_ORDERS.c.merchant_id)
                    .where(_ORDERS.c.order_id == order_id)
                    .order_by(_ORDERS.c.merchant_id)
                ).scalars()
            )

    def customer_orders_with_skus(
        self, merchant_id: str, customer_id: str, skus: Iterable[str], exclude_order_id: str | None = None
    ) -> list[tuple[str, list[str]]]:
        """The customer's other orders that contain any of `skus`, oldest first, each with the SKUs it
        shares (sorted): how a new order finds the journeys whose reorder reminders it makes moot."""
        wanted = set(skus)
        if not wanted:
            return []
        query = (
            sa.select(_ORDERS.c.order_id, _ORDERS.c.order_json)
            .where(_ORDERS.c.merchant_id == merchant_id, _ORDERS.c.customer_id == customer_id)
            .order_by(_ORDERS.c.placed_at, _ORDERS.c.pk)
        )
        if exclude_order_id is not None:
            query = query.where(_ORDERS.c.order_id != exclude_order_id)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
        found: list[tuple[str, list[str]]] = []
        for order_id, doc in rows:
            shared = wanted & {item["sku"] for item in doc.get("items", [])}
            if shared:
                found.append((order_id, sorted(shared)))
        return found

    def get_customer(self, merchant_id: str, customer_id: str) -> Customer | None:
        """A customer's latest known details and consent (from their most recent new order)."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(_CUSTOMERS).where(
                    _CUSTOMERS.c.merchant_id == merchant_id, _CUSTOMERS.c.customer_id == customer_id
                )
            ).first()
        if row is None:
            return None
        return Customer(
            id=row.customer_id,
            first_name=row.first_name,
            last_name=row.last_name,
            email=row.email,
            phone=row.phone,
            locale=row.locale,
            timezone=row.timezone,
            marketing_consent=row.marketing_consent,
            whatsapp_opt_in=row.whatsapp_opt_in,
        )

    def get_merchant(self, merchant_id: str) -> tuple[str, str | None] | None:
        """(name, policy_hash) of a merchant, or None."""
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(_MERCHANTS.c.name, _MERCHANTS.c.policy_hash).where(_MERCHANTS.c.id == merchant_id)
            ).first()
        return None if row is None else (row.name, row.policy_hash)

    @staticmethod
    def _order_pk(conn: Connection, merchant_id: str, order_id: str) -> int | None:
        return conn.execute(
            sa.select(_ORDERS.c.pk).where(_ORDERS.c.merchant_id == merchant_id, _ORDERS.c.order_id == order_id)
        ).scalar()

    # -- shipments ----------------------------------------------------------------------------------

    def record_shipment(self, merchant_id: str, order_id: str, shipment: Shipment) -> bool:
        """Attach a parcel to an order; True if new, False if this order already has it.

        Tracking numbers are unique per merchant: another merchant may track the same carrier and number
        (and is neither refused nor named). Raises UnknownOrderError for an order we never recorded, and
        ShipmentConflictError when the number is already one of this merchant's other orders' (carriers do
        recycle numbers, but not within a journey's lifetime: two orders claiming a parcel is a data problem).
        """
        with self._writer.begin() as conn:
            if self._order_pk(conn, merchant_id, order_id) is None:
                raise UnknownOrderError(f"order {order_id!r} of merchant {merchant_id!r} is not recorded")
            inserted = conn.execute(
                _insert(conn, _SHIPMENTS)
                .values(
                    carrier=shipment.carrier,
                    tracking_number=shipment.tracking_number,
                    merchant_id=merchant_id,
                    order_id=order_id,
                    items=dict(shipment.items),
                    shipped_at=shipment.shipped_at,
                    tracking_url=shipment.tracking_url,
                    created_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["carrier", "tracking_number", "merchant_id"])
                .returning(_SHIPMENTS.c.pk)
            ).first()
            if inserted is not None:
                return True
            owner = conn.execute(
                sa.select(_SHIPMENTS.c.order_id).where(
                    _SHIPMENTS.c.carrier == shipment.carrier,
                    _SHIPMENTS.c.tracking_number == shipment.tracking_number,
                    _SHIPMENTS.c.merchant_id == merchant_id,
                )
            ).scalar()
        if owner != order_id:
            raise ShipmentConflictError(
                f"tracking_number: {shipment.carrier} parcel {shipment.tracking_number} already belongs to "
                f"this merchant's order {owner}; a tracking number can be on one order only"
            )
        return False

    def find_shipment(self, carrier: str, tracking_number: str) -> list[tuple[str, str]]:
        """(merchant_id, order_id) of every merchant's parcel with this carrier and number, by merchant:
        where a carrier webhook goes. Empty when nobody registered it (yet)."""
        with self.engine.begin() as conn:
            return self._shipment_owners(conn, carrier, tracking_number)

    @staticmethod
    def _shipment_owners(conn: Connection, carrier: str, tracking_number: str) -> list[tuple[str, str]]:
        rows = conn.execute(
            sa.select(_SHIPMENTS.c.merchant_id, _SHIPMENTS.c.order_id)
            .where(_SHIPMENTS.c.carrier == carrier, _SHIPMENTS.c.tracking_number == tracking_number)
            .order_by(_SHIPMENTS.c.merchant_id)
        ).all()
        return [(r.merchant_id, r.order_id) for r in rows]

    def list_shipments(self, merchant_id: str, order_id: str) -> list[Shipment]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(_SHIPMENTS)
                .where(_SHIPMENTS.c.merchant_id == merchant_id, _SHIPMENTS.c.order_id == order_id)
                .order_by(_SHIPMENTS.c.created_at, _SHIPMENTS.c.pk)
            ).all()
        return [
            Shipment(
                carrier=r.carrier,
                tracking_number=r.tracking_number,
                items=r.items,
                shipped_at=r.shipped_at,
                tracking_url=r.tracking_url,
            )
            for r in rows
        ]

    # -- tracking events ----------------------------------------------------------------------------

    def record_tracking_events(
        self, events: Iterable[TrackingEvent], source: str, payload_sha256: str | None = None
    ) -> list[TrackingEvent]:
        """Store scans once each (carrier + tracking number + event id); returns only the new ones,
        in the order given. `source` is 'webhook' or 'poll'; `payload_sha256` the stored body they came in."""
        if source not in TRACKING_SOURCES:
            raise ValueError(f"source must be one of {TRACKING_SOURCES}, not {source!r}")
        events = list(events)
        if not events:
            return []
        with self._writer.begin() as conn:
            return self._insert_events(conn, events, source, payload_sha256, utcnow())

    @staticmethod
    def _insert_events(
        conn: Connection, events: list[TrackingEvent], source: str, payload_sha256: str | None, now: datetime
    ) -> list[TrackingEvent]:
        new: list[TrackingEvent] = []
        for event in events:
            inserted = conn.execute(
                _insert(conn, _EVENTS)
                .values(
                    carrier=event.carrier,
                    tracking_number=event.tracking_number,
                    event_id=event.event_id,
                    status=event.status.value,
                    occurred_at=event.occurred_at,
                    source=source,
                    event=event.model_dump(mode="json"),
                    payload_sha256=payload_sha256,
                    received_at=now,
                )
                .on_conflict_do_nothing(index_elements=["carrier", "tracking_number", "event_id"])
                .returning(_EVENTS.c.pk)
            ).first()
            if inserted is not None:
                new.append(event)
        return new

    def list_tracking_events(self, carrier: str, tracking_number: str) -> list[TrackingEvent]:
        """Every stored scan of a registered parcel, oldest first."""
        with self.engine.begin() as conn:
            docs = conn.execute(
                sa.select(_EVENTS.c.event)
                .where(_EVENTS.c.carrier == carrier, _EVENTS.c.tracking_number == tracking_number)
                .order_by(_EVENTS.c.occurred_at, _EVENTS.c.pk)
            ).scalars()
            return [TrackingEvent.model_validate(doc) for doc in docs]

    # -- carrier webhooks ---------------------------------------------------------------------------

    def record_carrier_push(self, carrier: str, body: bytes, events: Iterable[TrackingEvent]) -> PushRecorded:
        """Keep one verified carrier webhook, in one transaction: the raw body once (by SHA-256, and only if
        it brought a scan we did not have), registered parcels' scans in tracking_events, and scans for
        tracking numbers nobody registered in unmatched_tracking_events, within `unmatched_limits`.

        A carrier repeating a push writes nothing. Returns every owner per tracking number (all merchants
        with that carrier and number), so the caller can tell each parcel's tracking.
        """
        events = [e for e in events if e.carrier == carrier]
        digest = hashlib.sha256(body).hexdigest()
        limits, now = self.unmatched_limits, utcnow()
        by_number: dict[str, list[TrackingEvent]] = {}
        for event in events:
            by_number.setdefault(event.tracking_number, []).append(event)
        owners: dict[str, list[tuple[str, str]]] = {}
        new = 0
        with self._writer.begin() as conn:
            for number, parcel_events in sorted(by_number.items()):
                owners[number] = self._shipment_owners(conn, carrier, number)
                if owners[number]:
                    new += len(self._insert_events(conn, parcel_events, "webhook", digest, now))
                else:
                    new += self._insert_unmatched(conn, carrier, number, parcel_events, digest, now)
            if new:
                conn.execute(
                    _insert(conn, _PAYLOADS)
                    .values(sha256=digest, carrier=carrier, size=len(body), body=body, received_at=now)
                    # touched, so that an expiry running now cannot take a body a new scan points at
                    .on_conflict_do_update(index_elements=["sha256"], set_={"received_at": now})
                )
                self._bound_unmatched_total(conn, limits.total)
        due = self._last_expiry is None or time.monotonic() - self._last_expiry >= limits.expire_every.total_seconds()
        if due:
            self._last_expiry = time.monotonic()
            self.expire_unmatched_events()
        return PushRecorded(owners=owners, new_events=new, body_stored=bool(new))

    def _insert_unmatched(
        self,
        conn: Connection,
        carrier: str,
        tracking_number: str,
        events: list[TrackingEvent],
        payload_sha256: str,
        now: datetime,
    ) -> int:
        """Keep scans for an unregistered parcel: its newest `per_parcel` at most. Returns how many were new."""
        per_parcel = self.unmatched_limits.per_parcel
        newest = sorted(events, key=lambda e: e.occurred_at)[-per_parcel:] if per_parcel > 0 else []
        added = 0
        for event in newest:
            inserted = conn.execute(
                _insert(conn, _UNMATCHED)
                .values(
                    carrier=carrier,
                    tracking_number=tracking_number,
                    event_id=event.event_id,
                    occurred_at=event.occurred_at,
                    event=event.model_dump(mode="json"),
                    payload_sha256=payload_sha256,
                    received_at=now,
                )
                .on_conflict_do_nothing(index_elements=["carrier", "tracking_number", "event_id"])
                .returning(_UNMATCHED.c.pk)
            ).first()
            added += inserted is not None
        if added:
            surplus = (
                sa.select(_UNMATCHED.c.pk)
                .where(_UNMATCHED.c.carrier == carrier, _UNMATCHED.c.tracking_number == tracking_number)
                .order_by(_UNMATCHED.c.occurred_at.desc(), _UNMATCHED.c.pk.desc())
                .offset(per_parcel)
            )
            gone = conn.execute(_UNMATCHED.delete().where(_UNMATCHED.c.pk.in_(surplus.scalar_subquery()))).rowcount
            added = max(added - gone, 0)
        return added

    @staticmethod
    def _bound_unmatched_total(conn: Connection, total: int) -> None:
        """Beyond `total` unmatched scans, the ones received first go."""
        count = conn.execute(sa.select(sa.func.count()).select_from(_UNMATCHED)).scalar_one()
        if count <= total:
            return
        oldest = sa.select(_UNMATCHED.c.pk).order_by(_UNMATCHED.c.received_at, _UNMATCHED.c.pk).limit(count - total)
        conn.execute(_UNMATCHED.delete().where(_UNMATCHED.c.pk.in_(oldest.scalar_subquery())))

    def list_unmatched_events(self, carrier: str, tracking_number: str) -> list[UnmatchedEvent]:
        """Kept scans of a parcel nobody registered yet, oldest first."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(_UNMATCHED)
                .where(_UNMATCHED.c.carrier == carrier, _UNMATCHED.c.tracking_number == tracking_number)
                .order_by(_UNMATCHED.c.occurred_at, _UNMATCHED.c.pk)
            ).all()
        return [
            UnmatchedEvent(
                id=r.pk,
                event=TrackingEvent.model_validate(r.event),
                payload_sha256=r.payload_sha256,
                received_at=r.received_at,
            )
            for r in rows
        ]

    def claim_parcel_events(self, carrier: str, tracking_number: str) -> list[TrackingEvent]:
        """Everything carriers pushed for a parcel, for its tracking to start from: its kept unmatched scans
        move to tracking_events (the parcel is registered now), then every stored scan, oldest first."""
        now = utcnow()
        with self._writer.begin() as conn:
            rows = conn.execute(
                sa.select(_UNMATCHED).where(
                    _UNMATCHED.c.carrier == carrier, _UNMATCHED.c.tracking_number == tracking_number
                )
            ).all()
            for row in rows:
                conn.execute(
                    _insert(conn, _EVENTS)
                    .values(
                        carrier=carrier,
                        tracking_number=tracking_number,
                        event_id=row.event_id,
                        status=row.event["status"],
                        occurred_at=row.occurred_at,
                        source="webhook",
                        event=row.event,
                        payload_sha256=row.payload_sha256,
                        received_at=row.received_at or now,
                    )
                    .on_conflict_do_nothing(index_elements=["carrier", "tracking_number", "event_id"])
                )
            if rows:
                conn.execute(_UNMATCHED.delete().where(_UNMATCHED.c.pk.in_([r.pk for r in rows])))
        return self.list_tracking_events(carrier, tracking_number)

    def expire_unmatched_events(self, now: datetime | None = None) -> tuple[int, int]:
        """Forget unmatched scans older than `unmatched_limits.keep_for`, and bodies no scan points at any more
        that are as old. Returns (scans, bodies) deleted. Runs from `record_carrier_push` (throttled)."""
        cutoff = (now or utcnow()) - self.unmatched_limits.keep_for
        with self._writer.begin() as conn:
            scans = conn.execute(_UNMATCHED.delete().where(_UNMATCHED.c.received_at < cutoff)).rowcount
            referenced = sa.or_(
                sa.exists().where(_EVENTS.c.payload_sha256 == _PAYLOADS.c.sha256),
                sa.exists().where(_UNMATCHED.c.payload_sha256 == _PAYLOADS.c.sha256),
            )
            bodies = conn.execute(
                _PAYLOADS.delete().where(_PAYLOADS.c.received_at < cutoff, sa.not_(referenced))
            ).rowcount
        return scans, bodies

    def get_carrier_payload(self, sha256: str) -> bytes | None:
        """A stored webhook body, exactly as it came."""
        with self.engine.begin() as conn:
            return conn.execute(sa.select(_PAYLOADS.c.body).where(_PAYLOADS.c.sha256 == sha256)).scalar()

    def tracking_events_for_order(self, merchant_id: str, order_id: str) -> list[TrackingEvent]:
        """Every stored scan of every parcel of an order, oldest first: the support console's timeline."""
        with self.engine.begin() as conn:
            docs = conn.execute(
                sa.select(_EVENTS.c.event)
                .join(
                    _SHIPMENTS,
                    sa.and_(
                        _SHIPMENTS.c.carrier == _EVENTS.c.carrier,
                        _SHIPMENTS.c.tracking_number == _EVENTS.c.tracking_number,
                    ),
                )
                .where(_SHIPMENTS.c.merchant_id == merchant_id, _SHIPMENTS.c.order_id == order_id)
                .order_by(_EVENTS.c.occurred_at, _EVENTS.c.pk)
            ).scalars()
            return [TrackingEvent.model_validate(doc) for doc in docs]

    # -- outbox -------------------------------------------------------------------------------------

    def claim_message(self, req: MessageRequest) -> OutboxRow:
        """Insert-or-get the outbox row of `req.idempotency_key`.

        Race-safe: concurrent claims of one key all get the same single row (ON CONFLICT DO NOTHING
        waits for, then yields to, the first inserter). The first request's fields win.
        """
        now = utcnow()
        with self._writer.begin() as conn:
            conn.execute(
                _insert(conn, _MESSAGES)
                .values(
                    idempotency_key=req.idempotency_key,
                    merchant_id=req.merchant_id,
                    order_id=req.order_id,
                    customer_id=req.customer_id,
                    step=req.step.value,
                    channel=req.channel.value,
                    recipient=req.recipient,
                    marketing=effective_marketing(req),
                    policy_hash=req.policy_hash,
                    status=OutboxStatus.PENDING.value,
                    requested_at=req.requested_at,
                    attempts=0,
                    detail="",
                    created_at=now,
                    updated_at=now,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )
            row = self._message(conn, req.idempotency_key)
        assert row is not None  # inserted or already there, in this very transaction
        return row

    def get_message(self, key: str) -> OutboxRow | None:
        with self.engine.begin() as conn:
            return self._message(conn, key)

    def mark_sending(self, key: str) -> OutboxRow | None:
        """pending/failed -> sending, counting the attempt. None if the row was not in one of those
        (someone else is sending it, or it is final): only the caller that got a row may call the provider."""
        return self._transition(
            key,
            {OutboxStatus.PENDING, OutboxStatus.FAILED},
            status=OutboxStatus.SENDING.value,
            attempts=_MESSAGES.c.attempts + 1,
        )

    def mark_sent(self, key: str, provider_message_id: str, at: datetime) -> OutboxRow | None:
        """sending -> sent with the provider's id; also confirms a row recorded as sent-unconfirmed.
        Returns the updated row, or None if the row was in neither state."""
        return self._transition(
            key,
            sa.or_(
                _MESSAGES.c.status == OutboxStatus.SENDING.value,
                sa.and_(
                    _MESSAGES.c.status == OutboxStatus.SENT.value,
                    _MESSAGES.c.provider_message_id.is_(None),
                ),
            ),
            status=OutboxStatus.SENT.value,
            provider_message_id=provider_message_id,
            sent_at=at,
            detail="",
        )

    def mark_unconfirmed(self, key: str, at: datetime, detail: str) -> OutboxRow | None:
        """sending -> sent without a provider id: the provider may have the message, so we never
        resend it. `detail` should start with 'unconfirmed:' and say why."""
        return self._transition(key, {OutboxStatus.SENDING}, status=OutboxStatus.SENT.value, sent_at=at, detail=detail)

    def mark_skipped(self, key: str, reason: SkipReason, detail: str = "") -> OutboxRow | None:
        """pending/failed/sending -> skipped (final): not sent, and why."""
        return self._transition(
            key,
            {OutboxStatus.PENDING, OutboxStatus.FAILED, OutboxStatus.SENDING},
            status=OutboxStatus.SKIPPED.value,
            skip_reason=SkipReason(reason).value,
            detail=detail,
        )

    def mark_failed(self, key: str, detail: str) -> OutboxRow | None:
        """pending/sending/failed -> failed: known NOT sent, so a retry may send it."""
        return self._transition(
            key,
            {OutboxStatus.PENDING, OutboxStatus.SENDING, OutboxStatus.FAILED},
            status=OutboxStatus.FAILED.value,
            detail=detail,
        )

    def _transition(
        self, key: str, allowed: set[OutboxStatus] | sa.ColumnElement[bool], **values: Any
    ) -> OutboxRow | None:
        """Compare-and-set on the row's status: update only from an allowed state, in one statement,
        so two racing attempts cannot both move a row forward. Returns the row after, or None."""
        if isinstance(allowed, set):
            allowed = _MESSAGES.c.status.in_(sorted(s.value for s in allowed))
        with self._writer.begin() as conn:
            result = conn.execute(
                _MESSAGES.update()
                .where(_MESSAGES.c.idempotency_key == key, allowed)
                .values(updated_at=utcnow(), **values)
            )
            if result.rowcount != 1:
                return None
            return self._message(conn, key)

    def count_marketing_sent(
        self,
        merchant_id: str,
        customer_id: str,
        channel: Channel,
        since: datetime,
        until: datetime | None = None,
    ) -> int:
        """Marketing messages to a customer on a channel requested in [since, until), that went out.

        Counts by `requested_at` (the workflow's clock), so caps agree under time-skipping tests.
        'sending' rows count too: in flight or interrupted, they may have reached the customer.
        """
        conditions = [
            _MESSAGES.c.merchant_id == merchant_id,
            _MESSAGES.c.customer_id == customer_id,
            _MESSAGES.c.channel == Channel(channel).value,
            _MESSAGES.c.marketing.is_(True),
            _MESSAGES.c.status.in_([OutboxStatus.SENT.value, OutboxStatus.SENDING.value]),
            _MESSAGES.c.requested_at >= since,
        ]
        if until is not None:
            conditions.append(_MESSAGES.c.requested_at < until)
        with self.engine.begin() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(_MESSAGES).where(*conditions)).scalar_one()

    def list_messages(self, merchant_id: str, order_id: str) -> list[OutboxRow]:
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(_MESSAGES)
                .where(_MESSAGES.c.merchant_id == merchant_id, _MESSAGES.c.order_id == order_id)
                .order_by(_MESSAGES.c.requested_at, _MESSAGES.c.pk)
            ).mappings()
            return [_outbox_row(r) for r in rows]

    @staticmethod
    def _message(conn: Connection, key: str) -> OutboxRow | None:
        row = conn.execute(sa.select(_MESSAGES).where(_MESSAGES.c.idempotency_key == key)).mappings().first()
        return None if row is None else _outbox_row(row)

    # -- suppressions -------------------------------------------------------------------------------

    def suppress(self, channel: Channel, recipient: str, reason: SuppressionReason) -> bool:
        """Never write to this address on this channel again; True if it was not suppressed before.
        Suppressing again records the latest reason."""
        channel, recipient = Channel(channel), normalise_recipient(channel, recipient)
        reason = SuppressionReason(reason)
        with self._writer.begin() as conn:
            existed = self._suppression(conn, channel, recipient) is not None
            conn.execute(
                _insert(conn, _SUPPRESSIONS)
                .values(channel=channel.value, recipient=recipient, reason=reason.value, created_at=utcnow())
                .on_conflict_do_update(index_elements=["channel", "recipient"], set_={"reason": reason.value})
            )
        return not existed

    def unsuppress(self, channel: Channel, recipient: str) -> bool:
        """The customer opted back in (or the bounce was fixed); True if there was something to lift."""
        channel, recipient = Channel(channel), normalise_recipient(channel, recipient)
        with self._writer.begin() as conn:
            result = conn.execute(
                _SUPPRESSIONS.delete().where(
                    _SUPPRESSIONS.c.channel == channel.value, _SUPPRESSIONS.c.recipient == recipient
                )
            )
            return result.rowcount > 0

    def get_suppression(self, channel: Channel, recipient: str) -> SuppressionReason | None:
        """Why this address is suppressed on this channel, or None if it is not."""
        channel, recipient = Channel(channel), normalise_recipient(channel, recipient)
        with self.engine.begin() as conn:
            return self._suppression(conn, channel, recipient)

    def is_suppressed(self, channel: Channel, recipient: str) -> bool:
        return self.get_suppression(channel, recipient) is not None

    @staticmethod
    def _suppression(conn: Connection, channel: Channel, recipient: str) -> SuppressionReason | None:
        reason = conn.execute(
            sa.select(_SUPPRESSIONS.c.reason).where(
                _SUPPRESSIONS.c.channel == channel.value, _SUPPRESSIONS.c.recipient == recipient
            )
        ).scalar()
        return None if reason is None else SuppressionReason(reason)

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
        keys: list[tuple[Literal["order_id", "email", "tracking_number"], sa.ColumnElement[bool]]] = [
            ("order_id", _ORDERS.c.order_id == text),
            ("email", sa.func.lower(_CUSTOMERS.c.email) == text.lower()),
            (
                "tracking_number",
                sa.tuple_(_ORDERS.c.merchant_id, _ORDERS.c.order_id).in_(
                    sa.select(_SHIPMENTS.c.merchant_id, _SHIPMENTS.c.order_id)
                    # carriers print numbers in capitals; people type them in whatever case
                    .where(_SHIPMENTS.c.tracking_number.in_(sorted({text, text.upper()})))
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
                        _ORDERS.c.merchant_id,
                        _ORDERS.c.order_id,
                        _ORDERS.c.placed_at,
                        _ORDERS.c.total,
                        _ORDERS.c.currency,
                        _CUSTOMERS.c.first_name,
                        _CUSTOMERS.c.last_name,
                        _CUSTOMERS.c.email,
                    )
                    .join(
                        _CUSTOMERS,
                        sa.and_(
                            _CUSTOMERS.c.merchant_id == _ORDERS.c.merchant_id,
                            _CUSTOMERS.c.customer_id == _ORDERS.c.customer_id,
                        ),
                    )
                    .where(condition)
                    .order_by(_ORDERS.c.placed_at.desc(), _ORDERS.c.pk.desc())
                    .limit(limit)
                )
                if merchant_id is not None:
                    select = select.where(_ORDERS.c.merchant_id == merchant_id)
                for row in conn.execute(select):
                    name = " ".join(part for part in (row.first_name, row.last_name) if part) or None
                    found.setdefault(
                        (row.merchant_id, row.order_id),
                        OrderSummary(
                            merchant_id=row.merchant_id,
                            order_id=row.order_id,
                            customer_name=name,
                            customer_email=row.email,
                            placed_at=row.placed_at,
                            total=row.total,
                            currency=row.currency,
                            matched_by=matched_by,
                        ),
                    )
        return list(found.values())[:limit]

    # -- API tokens ---------------------------------------------------------------------------------

    def create_api_token(self, name: str, role: Role, merchant_id: str | None = None) -> IssuedToken:
        """Issue a token; the plaintext is in the result only, the database keeps its sha256.

        A merchant token needs `merchant_id` (it acts on that merchant's orders only); other roles act on
        every merchant and take none. Raises ValueError for a bad argument, naming it, and
        TokenNameTakenError when an active token already has `name`.
        """
        name = name.strip()
        if not name or len(name) > 128:
            raise ValueError(f"name must be 1-128 characters, got {len(name)}")
        try:
            role = Role(role)
        except ValueError:
            valid = ", ".join(r.value for r in Role)
            raise ValueError(f"role {role!r} is not one of: {valid}") from None
        if role is Role.MERCHANT and not merchant_id:
            raise ValueError("merchant_id is required for a merchant token: it acts on that merchant's orders only")
        if role is not Role.MERCHANT and merchant_id is not None:
            raise ValueError(
                f"merchant_id is only for merchant tokens; a {role.value} token acts on every merchant, "
                f"so leave it out (or use role merchant)"
            )
        short = f"ac_{ROLE_SHORT[role]}_"
        token = short + secrets.token_urlsafe(32)
        prefix = token[: len(short) + TOKEN_PREFIX_SECRET_CHARS]
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    _TOKENS.insert().values(
                        name=name,
                        role=role.value,
                        merchant_id=merchant_id,
                        token_hash=hash_token(token),
                        prefix=prefix,
                        created_at=utcnow(),
                    )
                )
        except sa.exc.IntegrityError as exc:
            with self.engine.begin() as conn:
                taken = conn.execute(
                    sa.select(_TOKENS.c.pk).where(_TOKENS.c.name == name, _TOKENS.c.revoked_at.is_(None))
                ).first()
            if taken is None:  # not the name: a hash collision of 256 random bits, or a real fault
                raise
            raise TokenNameTakenError(
                f"an active API token is already named {name!r}; revoke it first or choose another name"
            ) from exc
        return IssuedToken(name=name, role=role, merchant_id=merchant_id, token=token, prefix=prefix)

    def authenticate(self, token: str) -> Actor | None:
        """The actor a token stands for, or None if the token is unknown or revoked.

        Marks the token used, at most once per LAST_USED_RESOLUTION, so that most requests only read.
        """
        if not token:
            return None
        with self.engine.begin() as conn:
            row = self._active_token(conn, token)
        if row is None:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            stale = sa.or_(_TOKENS.c.last_used_at.is_(None), _TOKENS.c.last_used_at < now - LAST_USED_RESOLUTION)
            with self._writer.begin() as conn:
                conn.execute(_TOKENS.update().where(_TOKENS.c.pk == row.pk, stale).values(last_used_at=now))
        return Actor(name=row.name, role=Role(row.role), merchant_id=row.merchant_id)

    # -- console sessions ---------------------------------------------------------------------------

    def open_session(self, token: str, lifetime: timedelta, *, now: datetime | None = None) -> OpenedSession | None:
        """Sign a browser in with an API token: a new session for the token's actor that ends `lifetime`
        from now at the latest; None if the token is unknown or revoked. Only the id's sha256 is stored.
        Sessions that ended already are deleted on the way, so the table does not grow."""
        if not token:
            return None
        now = now or utcnow()
        session_id = secrets.token_urlsafe(32)
        with self._writer.begin() as conn:
            row = self._active_token(conn, token)
            if row is None:
                return None
            conn.execute(_SESSIONS.delete().where(_SESSIONS.c.expires_at <= now))
            conn.execute(
                _SESSIONS.insert().values(
                    session_hash=hash_token(session_id),
                    token_pk=row.pk,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + lifetime,
                )
            )
        actor = Actor(name=row.name, role=Role(row.role), merchant_id=row.merchant_id)
        return OpenedSession(session_id=session_id, actor=actor, expires_at=now + lifetime)

    def session_actor(self, session_id: str, idle: timedelta, *, now: datetime | None = None) -> Actor | None:
        """Who a console session stands for, or None if it is unknown, ended (logout, past its absolute
        expiry, idle for `idle` or longer) or its token was revoked. Marks it seen, at most once per
        LAST_USED_RESOLUTION, so that most requests only read."""
        if not session_id:
            return None
        now = now or utcnow()
        with self.engine.begin() as conn:
            row = conn.execute(
                sa.select(
                    _SESSIONS.c.pk, _SESSIONS.c.last_seen_at, _TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.merchant_id
                )
                .join(_TOKENS, _TOKENS.c.pk == _SESSIONS.c.token_pk)
                .where(
                    _SESSIONS.c.session_hash == hash_token(session_id),
                    _SESSIONS.c.expires_at > now,
                    _SESSIONS.c.last_seen_at > now - idle,
                    _TOKENS.c.revoked_at.is_(None),
                )
            ).first()
        if row is None:
            return None
        if now - row.last_seen_at >= LAST_USED_RESOLUTION:
            with self._writer.begin() as conn:
                conn.execute(
                    _SESSIONS.update()
                    .where(_SESSIONS.c.pk == row.pk, _SESSIONS.c.last_seen_at < now)
                    .values(last_seen_at=now)
                )
        return Actor(name=row.name, role=Role(row.role), merchant_id=row.merchant_id)

    def close_session(self, session_id: str) -> bool:
        """Sign out: the session is deleted, so its cookie stops working everywhere at once. False if
        there was no such session."""
        if not session_id:
            return False
        with self._writer.begin() as conn:
            result = conn.execute(_SESSIONS.delete().where(_SESSIONS.c.session_hash == hash_token(session_id)))
            return result.rowcount > 0

    @staticmethod
    def _active_token(conn: Connection, token: str) -> Any:
        """The row of an active (not revoked) token, by its hash; None if there is none."""
        columns = (_TOKENS.c.pk, _TOKENS.c.name, _TOKENS.c.role, _TOKENS.c.merchant_id, _TOKENS.c.last_used_at)
        return conn.execute(
            sa.select(*columns).where(_TOKENS.c.token_hash == hash_token(token), _TOKENS.c.revoked_at.is_(None))
        ).first()

    def list_api_tokens(self) -> list[ApiTokenInfo]:
        """Every token ever issued, revoked ones included, oldest first; never a hash."""
        with self.engine.begin() as conn:
            rows = conn.execute(sa.select(_TOKENS).order_by(_TOKENS.c.created_at, _TOKENS.c.pk)).all()
        return [
            ApiTokenInfo(
                name=r.name,
                role=Role(r.role),
                merchant_id=r.merchant_id,
                prefix=r.prefix,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                revoked_at=r.revoked_at,
            )
            for r in rows
        ]

    def revoke_api_token(self, name: str) -> bool:
        """Revoke the active token called `name` at once, and end its console sessions; False if there is
        none (unknown or already revoked). The row stays, so listings and the audit log can still say whose
        token it was."""
        with self._writer.begin() as conn:
            pks = (
                conn.execute(
                    _TOKENS.update()
                    .where(_TOKENS.c.name == name.strip(), _TOKENS.c.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                    .returning(_TOKENS.c.pk)
                )
                .scalars()
                .all()
            )
            if pks:
                conn.execute(_SESSIONS.delete().where(_SESSIONS.c.token_pk.in_(pks)))
            return bool(pks)

    # -- audit log ----------------------------------------------------------------------------------

    def record_audit(self, entry: AuditEntry) -> bool:
        """Keep one action on an order; True if new. The same `entry_id` again (a retried activity, a
        replayed update) changes nothing, whatever the second copy says."""
        with self._writer.begin() as conn:
            inserted = conn.execute(
                _insert(conn, _AUDIT)
                .values(
                    entry_id=entry.entry_id,
                    merchant_id=entry.merchant_id,
                    order_id=entry.order_id,
                    action=entry.action,
                    actor_name=entry.actor.name,
                    actor_role=entry.actor.role.value,
                    actor_merchant_id=entry.actor.merchant_id,
                    at=entry.at,
                    outcome=entry.outcome,
                    reason=entry.reason,
                    request=entry.request,
                    result=entry.result,
                    before=entry.before,
                    after=entry.after,
                    recorded_at=utcnow(),
                )
                .on_conflict_do_nothing(index_elements=["entry_id"])
                .returning(_AUDIT.c.pk)
            ).first()
        return inserted is not None

    def list_audit(self, merchant_id: str, order_id: str) -> list[AuditEntry]:
        """Every recorded action on an order, oldest first."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(_AUDIT)
                .where(_AUDIT.c.merchant_id == merchant_id, _AUDIT.c.order_id == order_id)
                .order_by(_AUDIT.c.at, _AUDIT.c.pk)
            ).all()
        return [
            AuditEntry(
                entry_id=r.entry_id,
                merchant_id=r.merchant_id,
                order_id=r.order_id,
                action=r.action,
                actor=Actor(name=r.actor_name, role=Role(r.actor_role), merchant_id=r.actor_merchant_id),
                at=r.at,
                outcome=r.outcome,
                request=r.request,
                result=r.result,
                before=r.before,
                after=r.after,
                reason=r.reason,
            )
            for r in rows
        ]


def _outbox_row(row: Any) -> OutboxRow:
    data = dict(row)
    data.pop("pk", None)
    return OutboxRow.model_validate(data)

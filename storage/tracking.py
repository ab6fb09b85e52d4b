"""Tracking events and what carriers push: registered parcels' scans, the raw webhook bodies, and the
scans kept for parcels nobody registered yet (bounded by `UnmatchedLimits`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import TrackingEvent
from storage.base import EVENTS, PAYLOADS, SHIPMENTS, UNMATCHED, StoreBase, insert_for, insert_new, of_order
from storage.orders import shipment_owners
from storage.records import PushRecorded, UnmatchedEvent
from storage.rows import row_values, unmatched_from_row
from storage.types import utcnow

TRACKING_SOURCES = ("webhook", "poll")


class TrackingStore(StoreBase):
    """Scans of parcels, carrier webhook bodies and unmatched scans."""

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
            values = row_values(
                event, EVENTS, status=event.status.value, source=source, **_stored(event, payload_sha256, now)
            )
            if insert_scan(conn, EVENTS, **values):
                new.append(event)
        return new

    def list_tracking_events(self, carrier: str, tracking_number: str) -> list[TrackingEvent]:
        """Every stored scan of a registered parcel, oldest first."""
        return self._events(EVENTS.c.carrier == carrier, EVENTS.c.tracking_number == tracking_number)

    # -- carrier webhooks ---------------------------------------------------------------------------

    def record_carrier_push(
        self,
        carrier: str,
        body: bytes,
        events: Iterable[TrackingEvent],
        couriers: Mapping[str, str] | None = None,
        merchant_id: str | None = None,
    ) -> PushRecorded:
        """Keep one verified carrier webhook, in one transaction: the raw body once (by SHA-256, and only if
        it brought a scan we did not have), registered parcels' scans in tracking_events, and scans for
        tracking numbers nobody registered in unmatched_tracking_events, within `unmatched_limits`.

        A carrier repeating a push writes nothing. Returns every owner per tracking number (all merchants
        with that carrier and number), so the caller can tell each parcel's tracking. `carrier` is the tracking
        provider the push came from; `couriers` (tracking number -> carrier slug), where the provider names the
        carrier, leaves out parcels recorded with another carrier. With `merchant_id` (a push signed with that
        merchant's own secret) only that merchant's parcels are touched, and nothing is kept for numbers it has
        not registered: its word is not trusted for anyone else's parcel.
        """
        couriers = couriers or {}
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
                owners[number] = shipment_owners(conn, carrier, number, couriers.get(number))
                if merchant_id is not None:
                    owners[number] = [o for o in owners[number] if o[0] == merchant_id]
                    if not owners[number]:
                        continue
                if owners[number]:
                    new += len(self._insert_events(conn, parcel_events, "webhook", digest, now))
                else:
                    new += self._insert_unmatched(conn, carrier, number, parcel_events, digest, now)
            if new:
                conn.execute(
                    insert_for(conn, PAYLOADS)
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
            added += insert_scan(conn, UNMATCHED, **row_values(event, UNMATCHED, **_stored(event, payload_sha256, now)))
        if added:
            surplus = (
                sa.select(UNMATCHED.c.pk)
                .where(UNMATCHED.c.carrier == carrier, UNMATCHED.c.tracking_number == tracking_number)
                .order_by(UNMATCHED.c.occurred_at.desc(), UNMATCHED.c.pk.desc())
                .offset(per_parcel)
            )
            gone = conn.execute(UNMATCHED.delete().where(UNMATCHED.c.pk.in_(surplus.scalar_subquery()))).rowcount
            added = max(added - gone, 0)
        return added

    @staticmethod
    def _bound_unmatched_total(conn: Connection, total: int) -> None:
        """Beyond `total` unmatched scans, the ones received first go."""
        count = conn.execute(sa.select(sa.func.count()).select_from(UNMATCHED)).scalar_one()
        if count <= total:
            return
        oldest = sa.select(UNMATCHED.c.pk).order_by(UNMATCHED.c.received_at, UNMATCHED.c.pk).limit(count - total)
        conn.execute(UNMATCHED.delete().where(UNMATCHED.c.pk.in_(oldest.scalar_subquery())))

    def list_unmatched_events(self, carrier: str, tracking_number: str) -> list[UnmatchedEvent]:
        """Kept scans of a parcel nobody registered yet, oldest first."""
        rows = self._rows(
            sa.select(UNMATCHED)
            .where(UNMATCHED.c.carrier == carrier, UNMATCHED.c.tracking_number == tracking_number)
            .order_by(UNMATCHED.c.occurred_at, UNMATCHED.c.pk)
        )
        return [unmatched_from_row(r) for r in rows]

    def claim_parcel_events(self, carrier: str, tracking_number: str) -> list[TrackingEvent]:
        """Everything carriers pushed for a parcel, for its tracking to start from: its kept unmatched scans
        move to tracking_events (the parcel is registered now), then every stored scan, oldest first."""
        now = utcnow()
        with self._writer.begin() as conn:
            rows = conn.execute(
                sa.select(UNMATCHED).where(
                    UNMATCHED.c.carrier == carrier, UNMATCHED.c.tracking_number == tracking_number
                )
            ).all()
            for row in rows:
                insert_scan(
                    conn,
                    EVENTS,
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
            if rows:
                conn.execute(UNMATCHED.delete().where(UNMATCHED.c.pk.in_([r.pk for r in rows])))
        return self.list_tracking_events(carrier, tracking_number)

    def expire_unmatched_events(self, now: datetime | None = None) -> tuple[int, int]:
        """Forget unmatched scans older than `unmatched_limits.keep_for`, and bodies no scan points at any more
        that are as old. Returns (scans, bodies) deleted. Runs from `record_carrier_push` (throttled)."""
        cutoff = (now or utcnow()) - self.unmatched_limits.keep_for
        with self._writer.begin() as conn:
            scans = conn.execute(UNMATCHED.delete().where(UNMATCHED.c.received_at < cutoff)).rowcount
            referenced = sa.or_(
                sa.exists().where(EVENTS.c.payload_sha256 == PAYLOADS.c.sha256),
                sa.exists().where(UNMATCHED.c.payload_sha256 == PAYLOADS.c.sha256),
            )
            bodies = conn.execute(
                PAYLOADS.delete().where(PAYLOADS.c.received_at < cutoff, sa.not_(referenced))
            ).rowcount
        return scans, bodies

    def get_carrier_payload(self, sha256: str) -> bytes | None:
        """A stored webhook body, exactly as it came."""
        with self.engine.begin() as conn:
            return conn.execute(sa.select(PAYLOADS.c.body).where(PAYLOADS.c.sha256 == sha256)).scalar()

    def tracking_events_for_order(self, merchant_id: str, order_id: str) -> list[TrackingEvent]:
        """Every stored scan of every parcel of an order, oldest first: the support console's timeline."""
        tracked_via = sa.func.coalesce(SHIPMENTS.c.provider, SHIPMENTS.c.carrier)
        parcel = sa.and_(tracked_via == EVENTS.c.carrier, SHIPMENTS.c.tracking_number == EVENTS.c.tracking_number)
        return self._events(of_order(SHIPMENTS, merchant_id, order_id), join=(SHIPMENTS, parcel))

    def _events(
        self, *where: sa.ColumnElement[bool], join: tuple[sa.Table, sa.ColumnElement[bool]] | None = None
    ) -> list[TrackingEvent]:
        """Stored scans matching `where` (of `join`ed rows, if given), oldest first."""
        query = sa.select(EVENTS.c.event)
        if join is not None:
            query = query.join(*join)
        docs = self._scalars(query.where(*where).order_by(EVENTS.c.occurred_at, EVENTS.c.pk))
        return [TrackingEvent.model_validate(doc) for doc in docs]


def insert_scan(conn: Connection, table: sa.Table, **values: Any) -> bool:
    """Insert one scan into `table` (tracking or unmatched events) unless its carrier + tracking number +
    event id is there already; True if it was new."""
    return insert_new(conn, table, ["carrier", "tracking_number", "event_id"], **values)


def _stored(event: TrackingEvent, payload_sha256: str | None, received_at: datetime) -> dict[str, Any]:
    """The columns a scan has in both event tables beyond its own fields: the whole event as JSON and
    the body it came in."""
    return {"event": event.model_dump(mode="json"), "payload_sha256": payload_sha256, "received_at": received_at}

"""Parcels across merchants and carrier pushes (issue 8): tracking numbers unique per merchant, each webhook body
stored once, unmatched scans bounded, expired and claimed by the parcel's tracking; schema version 3."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from domain import Shipment, TrackingEvent, TrackingStatus
from storage import ShipmentConflictError, Store, UnmatchedLimits, current_revision, head_revision, init_db
from tests.storage import old_schema
from tests.storage.conftest import MakeOrder
from tests.storage.test_support_store import T0, build_version_1, schema_of


def scan(event_id: str, minutes: int, tracking_number: str = "1Z0001", **kw: Any) -> TrackingEvent:
    return TrackingEvent(
        event_id=event_id,
        carrier=kw.pop("carrier", "ups"),
        tracking_number=tracking_number,
        status=kw.pop("status", TrackingStatus.IN_TRANSIT),
        occurred_at=T0 + timedelta(minutes=minutes),
        **kw,
    )


def body_of(*events: TrackingEvent) -> bytes:
    return json.dumps({"events": [e.model_dump(mode="json") for e in events]}).encode()


def count(store: Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())


# -- tracking numbers are unique per merchant --------------------------------------------------------


def test_another_merchant_may_track_the_same_number_and_is_neither_refused_nor_named(
    store: Store, make_order: MakeOrder
) -> None:
    store.record_order(make_order("A-1", merchant_id="acme"), {})
    store.record_order(make_order("B-1", merchant_id="bravo"), {})
    parcel = Shipment(carrier="ups", tracking_number="1Z0001")

    # bravo registers the number first: acme can still register it for its own order
    assert store.record_shipment("bravo", "B-1", parcel) is True
    assert store.record_shipment("acme", "A-1", parcel) is True
    assert store.record_shipment("acme", "A-1", parcel) is False
    assert store.find_shipment("ups", "1Z0001") == [("acme", "A-1"), ("bravo", "B-1")]
    assert store.list_shipments("acme", "A-1") == [parcel] == store.list_shipments("bravo", "B-1")


def test_a_conflict_within_one_merchant_names_only_that_merchants_order(store: Store, make_order: MakeOrder) -> None:
    for merchant, order in (("acme", "A-1"), ("acme", "A-2"), ("bravo", "B-SECRET")):
        store.record_order(make_order(order, merchant_id=merchant), {})
    parcel = Shipment(carrier="ups", tracking_number="1Z0001")
    store.record_shipment("bravo", "B-SECRET", parcel)
    store.record_shipment("acme", "A-1", parcel)
    with pytest.raises(ShipmentConflictError) as raised:
        store.record_shipment("acme", "A-2", parcel)
    message = str(raised.value)
    assert "A-1" in message and "tracking_number" in message
    assert "B-SECRET" not in message and "bravo" not in message


# -- carrier pushes: bodies once, unmatched bounded and expired ---------------------------------------


def test_a_push_stores_its_body_once_and_every_scan_points_at_it(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order("A-1"), {})
    store.record_shipment("acme", "A-1", Shipment(carrier="ups", tracking_number="1Z0001"))
    scans = [scan(f"e{i}", i) for i in range(50)]
    body = body_of(*scans)

    recorded = store.record_carrier_push("ups", body, scans)
    assert recorded.owners == {"1Z0001": [("acme", "A-1")]} and recorded.new_events == 50 and recorded.body_stored
    assert count(store, "carrier_payloads") == 1
    digest = hashlib.sha256(body).hexdigest()
    assert store.get_carrier_payload(digest) == body
    with store.engine.connect() as conn:
        pointers = set(conn.exec_driver_sql("SELECT payload_sha256 FROM tracking_events").scalars())
        stored_bytes = conn.exec_driver_sql("SELECT sum(size) FROM carrier_payloads").scalar_one()
    assert pointers == {digest}
    assert stored_bytes == len(body)  # once, not once per scan (50 x the body before)

    again = store.record_carrier_push("ups", body, scans)  # the carrier retries: nothing new is written
    assert again.new_events == 0 and not again.body_stored
    assert count(store, "carrier_payloads") == 1 and count(store, "tracking_events") == 50


def test_unknown_parcels_scans_are_kept_once_each_not_once_per_delivery(store: Store) -> None:
    scans = [scan("e1", 0), scan("e2", 5)]
    for _ in range(3):
        recorded = store.record_carrier_push("ups", body_of(*scans), scans)
    assert recorded.owners == {"1Z0001": []}
    assert [u.event.event_id for u in store.list_unmatched_events("ups", "1Z0001")] == ["e1", "e2"]
    assert count(store, "carrier_payloads") == 1


def test_unmatched_scans_are_bounded_per_parcel_keeping_the_newest(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "unmatched_limits", UnmatchedLimits(per_parcel=3, total=100))
    store.record_carrier_push("ups", b"1", [scan(f"e{i}", i) for i in range(5)])
    store.record_carrier_push("ups", b"2", [scan("e9", 90), scan("old", -50)])
    kept = [u.event.event_id for u in store.list_unmatched_events("ups", "1Z0001")]
    assert kept == ["e3", "e4", "e9"]


def test_unmatched_scans_are_bounded_in_total_dropping_the_first_received(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "unmatched_limits", UnmatchedLimits(per_parcel=10, total=4))
    for n in range(6):
        number = f"1Z00{n:02d}"
        store.record_carrier_push("ups", number.encode(), [scan(f"{number}-a", n, number)])
    assert count(store, "unmatched_tracking_events") == 4
    assert store.list_unmatched_events("ups", "1Z0000") == [] and store.list_unmatched_events("ups", "1Z0001") == []
    assert [u.event.event_id for u in store.list_unmatched_events("ups", "1Z0005")] == ["1Z0005-a"]


def test_unmatched_scans_and_their_bodies_expire(store: Store, make_order: MakeOrder) -> None:
    store.record_order(make_order("A-1"), {})
    store.record_shipment("acme", "A-1", Shipment(carrier="ups", tracking_number="1Z0001"))
    store.record_carrier_push("ups", b"matched", [scan("m1", 0)])
    store.record_carrier_push("ups", b"unmatched", [scan("u1", 0, "1Z9999")])
    assert store.expire_unmatched_events() == (0, 0)  # nothing is 30 days old yet

    later = datetime.now(UTC) + timedelta(days=31)
    assert store.expire_unmatched_events(later) == (1, 1)
    assert store.list_unmatched_events("ups", "1Z9999") == []
    # a registered parcel's scans and their body stay
    assert [e.event_id for e in store.list_tracking_events("ups", "1Z0001")] == ["m1"]
    assert store.get_carrier_payload(hashlib.sha256(b"matched").hexdigest()) == b"matched"
    assert store.get_carrier_payload(hashlib.sha256(b"unmatched").hexdigest()) is None


def test_a_push_runs_the_expiry_itself(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "unmatched_limits", UnmatchedLimits(keep_for=timedelta(0), expire_every=timedelta(0)))
    store.record_carrier_push("ups", b"first", [scan("u1", 0, "1Z9999")])
    store.record_carrier_push("ups", b"second", [scan("u2", 0, "1Z8888")])
    assert store.list_unmatched_events("ups", "1Z9999") == []  # expired by the second push (keep_for 0)


def test_a_parcel_registered_later_claims_its_pushed_scans(store: Store, make_order: MakeOrder) -> None:
    early = [scan("e1", 0, status=TrackingStatus.PENDING), scan("e2", 30)]
    store.record_carrier_push("ups", body_of(*early), early)
    store.record_order(make_order("A-1"), {})
    store.record_shipment("acme", "A-1", Shipment(carrier="ups", tracking_number="1Z0001"))
    store.record_carrier_push("ups", b"after", [scan("e3", 60)])  # registered now: stored as the parcel's

    claimed = store.claim_parcel_events("ups", "1Z0001")
    assert [e.event_id for e in claimed] == ["e1", "e2", "e3"]
    assert claimed[:2] == early
    assert store.list_unmatched_events("ups", "1Z0001") == []
    assert [e.event_id for e in store.claim_parcel_events("ups", "1Z0001")] == ["e1", "e2", "e3"]  # again: same
    assert [e.event_id for e in store.tracking_events_for_order("acme", "A-1")] == ["e1", "e2", "e3"]


# -- schema version 3 --------------------------------------------------------------------------------


def test_a_version_2_database_upgrades_keeping_shipments_and_moving_bodies(
    empty_db_url: str, store: Store, make_order: MakeOrder
) -> None:
    def fill(old: Store) -> None:
        old.record_order(make_order("A-1", merchant_id="acme"), {})
        old.record_order(make_order("B-1", merchant_id="bravo"), {})
        old_schema.insert_shipment(old.engine, "acme", "A-1", "ups", "1Z0001", {"li-1": 2})

    engine = build_version_1(empty_db_url, fill)
    body = {"result": {"tracking_code": "1Z0001"}}
    with engine.begin() as conn:  # what version 2 wrote: the whole body with every scan, and unmatched bodies
        for n in range(3):
            conn.execute(
                sa.text(
                    "INSERT INTO tracking_events (carrier, tracking_number, event_id, status, occurred_at, source, "
                    "event, payload, received_at) VALUES ('ups', '1Z0001', :id, 'in_transit', :at, 'webhook', "
                    ":event, :payload, :at)"
                ),
                {
                    "id": f"e{n}",
                    "at": T0.replace(tzinfo=None),
                    "event": json.dumps(scan(f"e{n}", n).model_dump(mode="json")),
                    "payload": json.dumps(body),
                },
            )
        conn.execute(
            sa.text(
                "INSERT INTO unmatched_carrier_events (carrier, tracking_number, payload, received_at) "
                "VALUES ('ups', '1Z9999', '{}', :at)"
            ),
            {"at": T0.replace(tzinfo=None)},
        )

    assert init_db(engine) == head_revision() and current_revision(engine) == head_revision()
    assert schema_of(engine) == schema_of(store.engine)  # the shape of a fresh database

    upgraded = Store(engine)
    assert upgraded.find_shipment("ups", "1Z0001") == [("acme", "A-1")]
    assert upgraded.list_shipments("acme", "A-1") == [
        Shipment(carrier="ups", tracking_number="1Z0001", items={"li-1": 2})
    ]
    assert upgraded.record_shipment("bravo", "B-1", Shipment(carrier="ups", tracking_number="1Z0001")) is True
    assert [e.event_id for e in upgraded.list_tracking_events("ups", "1Z0001")] == ["e0", "e1", "e2"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM carrier_payloads").scalar_one() == 1
        [digest] = conn.exec_driver_sql("SELECT DISTINCT payload_sha256 FROM tracking_events").scalars()
    assert json.loads(upgraded.get_carrier_payload(digest) or b"") == body
    engine.dispose()

"""Bytes written for one big carrier webhook: the old layout (the whole body with every scan row) against
storage as it is now (the body once in carrier_payloads, scans pointing at it).

    .venv/bin/python bench/carrier_push.py [--scans 2001] [--skip-old]

Builds a signed EasyPost `tracker.updated` Event whose Tracker carries `--scans` tracking details (2,001
scans make about 449 KB, the push a security review sent), parses it with the real connector, and writes
it to fresh SQLite files under a temporary directory:

- old layout: the version-2 `tracking_events` shape, one row per scan, each with the whole body as JSON
  (what `record_tracking_events(events, "webhook", payload)` did);
- now, for a registered parcel: `Store.record_carrier_push`, then the same push again (a carrier retry);
- now, for a number nobody registered: `Store.record_carrier_push` (kept scans are bounded per parcel).

"written" is the process's `write_bytes` from /proc/self/io (what reached the disk: WAL, checkpoint and
database pages), "stored" the growth of the database file after a checkpoint. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.carriers.easypost import SIGNATURE_HEADER, EasyPostCarrier, sign
from domain import Order, Shipment, TrackingEvent
from storage import Store
from storage.db import make_engine
from tests.storage import old_schema

SECRET = "bench-webhook-secret"
CODE = "EZBENCH0000001"


def easypost_push(scans: int) -> bytes:
    """A `tracker.updated` Event with `scans` tracking details, shaped as EasyPost sends them."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    details = [
        {
            "message": f"Arrived at facility {n}",
            "status": "in_transit",
            "status_detail": "arrived_at_facility",
            "datetime": (start + timedelta(minutes=n)).isoformat().replace("+00:00", "Z"),
            "source": "USPS",
            "tracking_location": {"city": "LOUISVILLE", "state": "KY", "country": "US"},
        }
        for n in range(scans)
    ]
    tracker = {
        "id": "trk_bench",
        "object": "Tracker",
        "mode": "test",
        "tracking_code": CODE,
        "status": "in_transit",
        "carrier": "USPS",
        "tracking_details": details,
        "est_delivery_date": None,
    }
    event = {
        "id": "evt_bench",
        "object": "Event",
        "description": "tracker.updated",
        "result": tracker,
        "previous_attributes": {"status": "pre_transit"},
        "mode": "test",
    }
    return json.dumps(event).encode()


def disk_writes() -> int:
    """Bytes this process caused to be written to storage so far (Linux), or 0 where unknown."""
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure(db: Path, engine: sa.Engine, write: Callable[[], Any]) -> tuple[int, int, float]:
    """(bytes written, bytes the database grew by, seconds) for one `write`, WAL checkpointed on both sides."""
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    size, written, began = db.stat().st_size, disk_writes(), time.perf_counter()
    write()
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    return disk_writes() - written, db.stat().st_size - size, time.perf_counter() - began


def old_layout(db: Path, events: list[TrackingEvent], payload: dict[str, Any]) -> tuple[int, int, float]:
    """The version-2 tracking_events table and what the webhook handler wrote into it for one push."""
    engine = make_engine(f"sqlite:///{db}")
    table = old_schema.V2.tables["tracking_events"]
    old_schema.V2.create_all(engine, tables=[table])
    now = datetime.now(UTC)

    def write() -> None:
        with engine.begin() as conn:
            for e in events:
                conn.execute(
                    table.insert().values(
                        carrier=e.carrier,
                        tracking_number=e.tracking_number,
                        event_id=e.event_id,
                        status=e.status.value,
                        occurred_at=e.occurred_at,
                        source="webhook",
                        event=e.model_dump(mode="json"),
                        payload=payload,
                        received_at=now,
                    )
                )

    try:
        return measure(db, engine, write)
    finally:
        engine.dispose()


def order() -> Order:
    return Order.model_validate(
        {
            "merchant_id": "bench",
            "order_id": "B-1",
            "placed_at": datetime.now(UTC),
            "currency": "USD",
            "total": Decimal("10"),
            "customer": {"id": "c1"},
            "shipping_address": {"country": "US"},
            "items": [{"id": "li-1", "sku": "S", "name": "Mug", "quantity": 1, "unit_price": "10"}],
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scans", type=int, default=2001)
    parser.add_argument("--skip-old", action="store_true", help="skip the old layout (it writes ~900 MB)")
    args = parser.parse_args(argv)

    body = easypost_push(args.scans)
    carrier = EasyPostCarrier("http://unused.invalid", "key", SECRET)
    events = carrier.parse_webhook(body, {SIGNATURE_HEADER: sign(body, SECRET)})
    print(f"push: {len(body) / 1024:,.0f} KB, {len(events):,} scans")
    rows: list[tuple[str, int, int, float]] = []
    with tempfile.TemporaryDirectory(prefix="aftercare-bench-") as tmp:
        if not args.skip_old:
            rows.append(
                ("old layout: body with every scan", *old_layout(Path(tmp, "old.db"), events, json.loads(body)))
            )

        db = Path(tmp, "now.db")
        store = Store.open(f"sqlite:///{db}")
        store.record_order(order(), {})
        store.record_shipment("bench", "B-1", Shipment(carrier="easypost", tracking_number=CODE))
        rows.append(
            (
                "now: registered parcel",
                *measure(db, store.engine, lambda: store.record_carrier_push("easypost", body, events)),
            )
        )
        rows.append(
            (
                "now: the same push again",
                *measure(db, store.engine, lambda: store.record_carrier_push("easypost", body, events)),
            )
        )
        store.close()

        db = Path(tmp, "unmatched.db")
        store = Store.open(f"sqlite:///{db}")
        rows.append(
            (
                "now: nobody's parcel (kept, bounded)",
                *measure(db, store.engine, lambda: store.record_carrier_push("easypost", body, events)),
            )
        )
        store.close()

    print(f"{'':40} {'written':>14} {'stored':>14} {'seconds':>9}")
    for what, written, stored, seconds in rows:
        print(f"{what:40} {written / 1e6:>11,.1f} MB {stored / 1e6:>11,.1f} MB {seconds:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

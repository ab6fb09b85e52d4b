"""How long the retention prune takes on a backlog: N orders past retention (each with a 2 kB raw payload, one
outbox message and one store delivery) and N recent ones, on SQLite (a temp file) or PostgreSQL (--url), then
`Store.prune` in its batches of 1000 rows, and how long the longest batch held the write lock. Rows are inserted in
bulk (not through the Store's one-transaction-per-call methods) so that the setup takes seconds, not minutes.

A benchmark that prints figures, not a test: `python bench/prune.py --orders 50000` (SQLite) or
`python bench/prune.py --orders 50000 --url postgresql+psycopg://postgres@127.0.0.1/bench_prune` (an empty database).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from storage import Store
from storage.base import MESSAGES, ORDERS, STORE_DELIVERIES
from storage.retention import PRUNE_BATCH
from storage.types import utcnow

RAW = {"note": "x" * 2000}


def fill(store: Store, orders: int) -> None:
    now, old = utcnow(), utcnow() - timedelta(days=500)
    store.upsert_merchant("bench", "Bench", None)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO customers (merchant_id, customer_id, marketing_consent, whatsapp_opt_in, created_at, "
            "updated_at) VALUES ('bench', 'c', false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
        for start in range(0, 2 * orders, 5000):
            chunk = range(start, min(start + 5000, 2 * orders))
            at = {n: old if n < orders else now for n in chunk}
            conn.execute(
                ORDERS.insert(),
                [dict(merchant_id="bench", order_id=f"o{n}", customer_id="c", placed_at=at[n], currency="EUR",
                      total=10, order_json={}, raw_payload=RAW, created_at=at[n]) for n in chunk],
            )  # fmt: skip
            conn.execute(
                MESSAGES.insert(),
                [dict(idempotency_key=f"o{n}:confirmation:email", merchant_id="bench", order_id=f"o{n}",
                      customer_id="c", step="confirmation", channel="email", recipient=f"c{n}@example.com",
                      status="sent", requested_at=at[n], sent_at=at[n], detail="", created_at=at[n],
                      updated_at=at[n]) for n in chunk],
            )  # fmt: skip
            conn.execute(
                STORE_DELIVERIES.insert(),
                [dict(platform="shopify", shop="bench", delivery_id=f"d{n}", topic="orders/create",
                      merchant_id="bench", order_id=f"o{n}", outcome="started", received_at=at[n]) for n in chunk],
            )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orders", type=int, default=20_000, help="orders past retention (as many recent ones)")
    parser.add_argument("--url", help="an empty PostgreSQL database (default: a SQLite temp file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store.open(url)
        started = time.perf_counter()
        fill(store, args.orders)
        print(f"{store.engine.dialect.name}: {2 * args.orders} orders, messages, deliveries inserted in "
              f"{time.perf_counter() - started:.1f}s")  # fmt: skip
        cutoff = utcnow() - timedelta(days=400)
        started = time.perf_counter()
        counted = store.prune(cutoff, dry_run=True)
        print(f"dry run: {time.perf_counter() - started:.2f}s {counted}")
        started = time.perf_counter()
        removed = store.prune(cutoff)
        took = time.perf_counter() - started
        rows = sum(removed.values())
        print(f"prune: {took:.2f}s for {rows} rows ({rows / took:,.0f} rows/s, batches of {PRUNE_BATCH}) {removed}")
        started = time.perf_counter()
        again = store.prune(cutoff)
        print(f"second prune (nothing left): {time.perf_counter() - started:.2f}s {again}")
        store.close()


if __name__ == "__main__":
    main()

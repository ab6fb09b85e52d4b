"""Retention: what we keep only for a while. `prune(cutoff)` empties or deletes, table by table and in batches,
what is older than the cutoff and no KPI or support screen needs:

- orders.raw_payload (the store's payload as it came) -> `{}`; order_json (the validated order: what the console
  shows) stays;
- carrier_payloads (carrier webhook bodies) -> deleted; the normalised scans in tracking_events stay (they keep
  the body's digest, which then names nothing);
- messages (the outbox) -> recipient, detail and delivery_detail cleared; step, channel, status, skip reason and
  every time stay, which is all counting messages needs;
- store_deliveries (which webhook deliveries we acted on) -> deleted: stores retry for hours or days, not months.

The cutoff must lie before the start of every running journey (AFTERCARE_RETENTION_DAYS is longer than the
longest journey), so nothing a running journey reads is touched. Each batch is its own short transaction: a large
backlog never holds the write lock for long, and an interrupted prune just resumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from storage.base import MESSAGES, ORDERS, PAYLOADS, STORE_DELIVERIES, StoreBase

PRUNE_BATCH = 1000


@dataclass(frozen=True)
class _Rule:
    """What one table loses: rows of `table` matching `where` (found by `key`) are deleted (`values` None) or
    updated with `values`."""

    name: str
    table: sa.Table
    key: sa.Column[Any]
    where: sa.ColumnElement[bool]
    values: dict[str, Any] | None = None


def _rules(cutoff: datetime) -> list[_Rule]:
    return [
        _Rule(
            "orders.raw_payload",
            ORDERS,
            ORDERS.c.pk,
            sa.and_(ORDERS.c.created_at < cutoff, sa.cast(ORDERS.c.raw_payload, sa.Text) != "{}"),
            {"raw_payload": {}},
        ),
        _Rule("carrier_payloads", PAYLOADS, PAYLOADS.c.sha256, PAYLOADS.c.received_at < cutoff),
        _Rule(
            "messages.recipient+detail",
            MESSAGES,
            MESSAGES.c.pk,
            sa.and_(
                MESSAGES.c.requested_at < cutoff,
                sa.or_(
                    MESSAGES.c.recipient.is_not(None),
                    MESSAGES.c.detail != "",
                    MESSAGES.c.delivery_detail.is_not(None),
                ),
            ),
            {"recipient": None, "detail": "", "delivery_detail": None},
        ),
        _Rule("store_deliveries", STORE_DELIVERIES, STORE_DELIVERIES.c.pk, STORE_DELIVERIES.c.received_at < cutoff),
    ]


class RetentionStore(StoreBase):
    """Pruning what outlived AFTERCARE_RETENTION_DAYS."""

    def prune(self, cutoff: datetime, *, dry_run: bool = False, batch: int = PRUNE_BATCH) -> dict[str, int]:
        """Empty or delete what is older than `cutoff` (see the module's docstring); returns rows changed per
        table. With `dry_run`, changes nothing and returns what would change. Safe to repeat: a second run finds
        nothing left."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        return {rule.name: self._count(rule) if dry_run else self._apply(rule, batch) for rule in _rules(cutoff)}

    def _count(self, rule: _Rule) -> int:
        with self.engine.begin() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(rule.table).where(rule.where)).scalar_one())

    def _apply(self, rule: _Rule, batch: int) -> int:
        """Batch after batch in key order, each starting past the last key seen: the whole table is read once,
        not once per batch."""
        done, last = 0, None
        while True:
            query = sa.select(rule.key).where(rule.where).order_by(rule.key).limit(batch)
            if last is not None:
                query = query.where(rule.key > last)
            with self._writer.begin() as conn:
                keys = list(conn.execute(query).scalars())
                if not keys:
                    return done
                change = rule.table.delete() if rule.values is None else rule.table.update().values(**rule.values)
                done += conn.execute(change.where(rule.key.in_(keys))).rowcount
            if len(keys) < batch:
                return done
            last = keys[-1]

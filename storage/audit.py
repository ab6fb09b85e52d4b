"""The audit log: one row per action someone took on an order, kept once per entry id."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain import AuditEntry
from storage.base import AUDIT, StoreBase, insert_new, of_order
from storage.rows import audit_from_row, row_values
from storage.types import utcnow


class AuditStore(StoreBase):
    """The audit log."""

    # -- audit log ----------------------------------------------------------------------------------

    def record_audit(self, entry: AuditEntry) -> bool:
        """Keep one action on an order; True if new. The same `entry_id` again (a retried activity, a
        replayed update) changes nothing, whatever the second copy says."""
        with self._writer.begin() as conn:
            return insert_audit(conn, entry)

    def list_audit(self, merchant_id: str, order_id: str) -> list[AuditEntry]:
        """Every recorded action on an order, oldest first."""
        rows = self._rows(
            sa.select(AUDIT).where(of_order(AUDIT, merchant_id, order_id)).order_by(AUDIT.c.at, AUDIT.c.pk)
        )
        return [audit_from_row(r) for r in rows]


def insert_audit(conn: Connection, entry: AuditEntry) -> bool:
    """Insert one audit row in the caller's transaction unless its entry id is there; True if new."""
    return insert_new(
        conn,
        AUDIT,
        ["entry_id"],
        **row_values(
            entry,
            AUDIT,
            actor_name=entry.actor.name,
            actor_role=entry.actor.role.value,
            actor_merchant_id=entry.actor.merchant_id,
            recorded_at=utcnow(),
        ),
    )

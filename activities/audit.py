"""`record_action`: write a support action to the audit table, durably, from inside the journey.

The journey schedules it for every action it carries out, so the record survives an API that crashed
after the Update returned; the entry id is unique, so a retried activity keeps one row.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from domain import AuditEntry
from storage import Store


class AuditActivities:
    """Holds the store; register `instance.record_action`."""

    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn(name="record_action")
    async def record_action(self, entry: AuditEntry) -> bool:
        """True if the entry is new (False: an earlier attempt already wrote it)."""
        return await asyncio.to_thread(self._store.record_audit, entry)

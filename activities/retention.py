"""`prune_expired`: the retention prune (storage.retention) with the worker's AFTERCARE_RETENTION_DAYS."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import activity

from storage import Store
from storage.types import utcnow


class RetentionActivities:
    """Holds the store and the retention period; register `instance.prune_expired` with the worker."""

    def __init__(self, store: Store, retention_days: int, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._keep = timedelta(days=retention_days)
        self._clock = clock

    @activity.defn(name="prune_expired")
    async def prune_expired(self) -> dict[str, int]:
        """Prune what is older than the retention period; idempotent (a retry finds less or nothing left)."""
        cutoff = self._clock() - self._keep
        removed = await asyncio.to_thread(self._store.prune, cutoff)
        activity.logger.info("retention prune before %s: %s", cutoff.isoformat(), removed)
        return removed

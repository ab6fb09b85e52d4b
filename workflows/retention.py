"""`RetentionPrune`: the daily run of the retention prune, started by a Temporal Schedule (aftercare.schedules).

A workflow rather than a timer in the worker: the schedule survives worker restarts and scaling (one run a day
however many workers there are), a missed day is caught up, and each run's result is in its history.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

PRUNE_EXPIRED = "prune_expired"  # activities.retention.RetentionActivities.prune_expired
PRUNE_TIMEOUT = timedelta(hours=1)  # a large first backlog in batches of 1000 rows; each batch commits on its own
PRUNE_RETRY = RetryPolicy(initial_interval=timedelta(minutes=1), maximum_interval=timedelta(minutes=30))


@workflow.defn(name="RetentionPrune")
class RetentionPrune:
    @workflow.run
    async def run(self) -> dict[str, int]:
        """Rows changed per table (see storage.retention)."""
        removed: dict[str, int] = await workflow.execute_activity(
            PRUNE_EXPIRED,
            result_type=dict[str, int],
            start_to_close_timeout=PRUNE_TIMEOUT,
            schedule_to_close_timeout=timedelta(hours=12),
            retry_policy=PRUNE_RETRY,
        )
        return removed

"""The Temporal Schedules Aftercare keeps: the daily retention prune (workflows.retention).

Every worker makes sure the schedule exists when it starts; the first one creates it, the others find it there.
An existing schedule is left as it is (an operator may have paused it in the Web UI: `temporal schedule toggle`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
)
from temporalio.service import RPCError

from workflows.retention import RetentionPrune

PRUNE_SCHEDULE_ID = "aftercare-retention-prune"
PRUNE_EVERY = timedelta(days=1)

log = logging.getLogger(__name__)


def prune_schedule(task_queue: str) -> Schedule:
    """Once a day, one run at a time; a run missed while Temporal was down is caught up within a day."""
    return Schedule(
        action=ScheduleActionStartWorkflow(RetentionPrune.run, id=PRUNE_SCHEDULE_ID, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=PRUNE_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=PRUNE_EVERY),
    )


async def ensure_prune_schedule(client: Client, task_queue: str) -> bool:
    """Create the daily prune's schedule unless it exists; True if this call created it. A Temporal that refuses
    (an API key without the right to make schedules) is logged, not fatal: the worker's journeys matter more, and
    `aftercare db prune` from cron does the same job."""
    try:
        await client.create_schedule(PRUNE_SCHEDULE_ID, prune_schedule(task_queue))
    except ScheduleAlreadyRunningError:
        return False
    except RPCError as err:
        log.warning(
            "could not create schedule %s (%s: %s): retention is not pruned daily; give this identity the right to "
            "create schedules, or run `aftercare db prune` daily from cron",
            PRUNE_SCHEDULE_ID,
            err.status.name,
            err.message,
        )
        return False
    log.info("created schedule %s: retention prune every %s", PRUNE_SCHEDULE_ID, PRUNE_EVERY)
    return True

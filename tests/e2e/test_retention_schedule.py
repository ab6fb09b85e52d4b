"""The daily retention prune's Temporal Schedule, on the dev server: every worker start makes sure it exists (the
first creates it, the rest find it), and it starts `RetentionPrune` once a day on the worker's task queue."""

from __future__ import annotations

import pytest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.testing import WorkflowEnvironment

from aftercare.schedules import PRUNE_EVERY, PRUNE_SCHEDULE_ID, ensure_prune_schedule

pytestmark = pytest.mark.devserver


async def test_the_prune_schedule_is_created_once_and_runs_daily(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    try:
        await client.get_schedule_handle(PRUNE_SCHEDULE_ID).delete()  # a worker of another test may have made it
    except Exception:  # noqa: BLE001 - not there: what we want
        pass
    assert await ensure_prune_schedule(client, "retention-q") is True
    assert await ensure_prune_schedule(client, "retention-q") is False  # a second worker, or a restart

    described = await client.get_schedule_handle(PRUNE_SCHEDULE_ID).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("RetentionPrune", "retention-q")
    assert [i.every for i in described.schedule.spec.intervals] == [PRUNE_EVERY]
    assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    await client.get_schedule_handle(PRUNE_SCHEDULE_ID).delete()

"""Retention on Temporal's side, on the dev server: the daily prune's Schedule (every worker start makes sure it
exists: the first creates it, the rest find it; it starts `RetentionPrune` once a day on the worker's task queue),
and the namespace's retention as `aftercare up` sets it from AFTERCARE_RETENTION_DAYS."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from aftercare.schedules import PRUNE_EVERY, PRUNE_SCHEDULE_ID, ensure_prune_schedule
from aftercare.settings import Settings
from aftercare.temporal_retention import apply_namespace_retention
from tests.conftest import venv_binary

pytestmark = pytest.mark.devserver


async def test_the_prune_schedule_is_created_once_and_runs_daily(dev_env: WorkflowEnvironment) -> None:
    client = dev_env.client
    with contextlib.suppress(RPCError):  # a worker of another test may have made it
        await client.get_schedule_handle(PRUNE_SCHEDULE_ID).delete()
    assert await ensure_prune_schedule(client, "retention-q") is True
    assert await ensure_prune_schedule(client, "retention-q") is False  # a second worker, or a restart

    described = await client.get_schedule_handle(PRUNE_SCHEDULE_ID).describe()
    action = described.schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert (action.workflow, action.task_queue) == ("RetentionPrune", "retention-q")
    assert [i.every for i in described.schedule.spec.intervals] == [PRUNE_EVERY]
    assert described.schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    await client.get_schedule_handle(PRUNE_SCHEDULE_ID).delete()


async def test_aftercare_up_sets_the_namespace_retention_from_the_same_setting(
    dev_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch
) -> None:
    host, port = dev_env.client.service_client.config.target_host.rsplit(":", 1)
    monkeypatch.setenv("AFTERCARE_TEMPORAL_HOST", host)
    monkeypatch.setenv("AFTERCARE_TEMPORAL_PORT", port)
    monkeypatch.setenv("AFTERCARE_NAMESPACE", dev_env.client.namespace)
    monkeypatch.setenv("AFTERCARE_RETENTION_DAYS", "60")

    assert apply_namespace_retention(Settings(), venv_binary("temporal")) is None

    described = await dev_env.client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=dev_env.client.namespace)
    )
    assert described.config.workflow_execution_retention_ttl.ToTimedelta() == timedelta(days=60)

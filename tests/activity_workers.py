"""Activities run by a real worker in a test: a worker on a task queue of its own, and the activity call a
test workflow makes (by name, as the journey's workflows do)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

T = TypeVar("T")


async def execute(activity: str, arg: Any, result_type: type[T], retry_policy: RetryPolicy) -> T:
    """From inside a test workflow: run the activity registered as `activity`, ten seconds a try."""
    return await workflow.execute_activity(
        activity,
        arg,
        result_type=result_type,
        start_to_close_timeout=timedelta(seconds=10),
        retry_policy=retry_policy,
    )


@asynccontextmanager
async def running_worker(
    env: WorkflowEnvironment, prefix: str, workflows: Sequence[type], activities: Sequence[Callable[..., Any]]
) -> AsyncIterator[str]:
    """A worker for the test workflows (unsandboxed) and activities, on a fresh task queue: yields the queue."""
    queue = f"{prefix}-{uuid.uuid4()}"
    async with Worker(
        env.client,
        task_queue=queue,
        workflows=workflows,
        activities=activities,
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield queue

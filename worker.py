"""Starts the Temporal worker: registers the journey workflows and their activities, nothing else."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking

WORKFLOWS: list[type] = [OrderJourney, ShipmentTracking]

# Our pure data and rule modules are deterministic; passing them through keeps one copy of each pydantic class.
# The `workflows.*` ones must be named one by one: the sandbox re-imports the workflow modules' own package, so a
# submodule imported from it would otherwise be a fresh copy per run and its models would not match the host's.
_PASSTHROUGH = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "email_validator",
    "domain",
    "policies",
    "workflows.commands",
    "workflows.models",
    "workflows.parcels",
    "workflows.plan",
    "workflows.support_rules",
    "workflows.timecalc",
)


SHUTDOWN_GRACE = timedelta(seconds=15)  # `aftercare up` waits longer than this before it kills a worker


def workflow_runner() -> SandboxedWorkflowRunner:
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH))


def build_replayer(data_converter: DataConverter) -> Replayer:
    """Replays saved histories against the workflows and sandbox a worker runs (tests, `aftercare` tools)."""
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter, workflow_runner=workflow_runner())


def build_worker(
    client: Client,
    *,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    max_concurrent_activities: int = 100,
    graceful_shutdown: timedelta = SHUTDOWN_GRACE,
) -> Worker:
    """One place that says what a worker runs, shared by `worker.py`, `aftercare up`, tests and benchmarks.

    On SIGTERM the worker stops polling and gives running activities `graceful_shutdown` to finish; then they
    are cancelled and Temporal retries them elsewhere (they are idempotent)."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=WORKFLOWS,
        activities=list(activities),
        workflow_runner=workflow_runner(),
        activity_executor=ThreadPoolExecutor(max_workers=max_concurrent_activities),
        max_concurrent_activities=max_concurrent_activities,
        graceful_shutdown_timeout=graceful_shutdown,
    )


async def main() -> None:
    from aftercare.home import secure_home
    from aftercare.logs import configure_logging
    from aftercare.runtime import connect_client, production_activities
    from aftercare.settings import load_settings

    configure_logging("worker")  # redacted: no email, phone number or token reaches worker.log
    settings = load_settings()
    secure_home(settings.home)  # the database and key files it creates are its owner's only
    # the store first: a database behind this code stops the worker here, with the command to run
    activities, close = production_activities(settings)
    client = await connect_client(settings, component="worker")
    worker = build_worker(client, task_queue=settings.task_queue, activities=activities)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info("worker polling task queue %r on %s", settings.task_queue, settings.temporal_address)
    async with worker:
        await stop.wait()
    await close()


if __name__ == "__main__":
    asyncio.run(main())

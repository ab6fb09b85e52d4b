"""Starts the Temporal worker: registers the journey workflows and their activities, nothing else."""

from __future__ import annotations

import asyncio
import compileall
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Replayer, Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import workflows
from workflows.order_journey import OrderJourney
from workflows.retention import RetentionPrune
from workflows.shipment_tracking import ShipmentTracking

if TYPE_CHECKING:
    from aftercare.settings import Settings

WORKFLOWS: list[type] = [OrderJourney, ShipmentTracking, RetentionPrune]

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


@dataclass(frozen=True)
class WorkerTuning:
    """How much one worker process takes on at once. From the environment (`from_settings`, AFTERCARE_WORKER_*) in
    production, from flags in the bench (`bench/journeys.py`).

    The defaults were measured for our journeys (docs/PERFORMANCE.md, "Worker tuning"): fewer slots or pollers
    than the SDK's gained nothing on a CPU-bound worker, and a sticky cache smaller than the journeys active at
    once costs a replay per workflow task: 2,000 review requests falling due together drained 30% faster with
    3,000 cached than with the SDK's 1,000. They are spelled out here so that an SDK upgrade that moves its own
    defaults does not move ours unmeasured."""

    max_concurrent_activities: int = 100
    max_concurrent_workflow_tasks: int = 100
    max_cached_workflows: int = 3000  # ~0.3 MB of worker memory each: ~1.1 GB when full
    workflow_task_polls: int = 5
    activity_task_polls: int = 5

    def worker_options(self) -> dict[str, Any]:
        """The `Worker` keyword arguments, with an activity thread for every activity slot."""
        return {
            "activity_executor": ThreadPoolExecutor(max_workers=self.max_concurrent_activities),
            "max_concurrent_activities": self.max_concurrent_activities,
            "max_concurrent_workflow_tasks": self.max_concurrent_workflow_tasks,
            "max_cached_workflows": self.max_cached_workflows,
            "max_concurrent_workflow_task_polls": self.workflow_task_polls,
            "max_concurrent_activity_task_polls": self.activity_task_polls,
        }

    def describe(self) -> str:
        return (
            f"max_concurrent_activities={self.max_concurrent_activities}, max_concurrent_workflow_tasks="
            f"{self.max_concurrent_workflow_tasks}, max_cached_workflows={self.max_cached_workflows}, "
            f"workflow/activity task polls={self.workflow_task_polls}/{self.activity_task_polls}"
        )

    @classmethod
    def given(cls, **values: int | None) -> WorkerTuning:
        """The defaults, with each value that is not None in its place."""
        return cls(**{name: value for name, value in values.items() if value is not None})

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerTuning:
        """AFTERCARE_WORKER_* (checked by the settings); unset keeps the default."""
        return cls.given(
            max_concurrent_activities=settings.worker_max_activities,
            max_concurrent_workflow_tasks=settings.worker_max_workflow_tasks,
            max_cached_workflows=settings.worker_max_cached_workflows,
            workflow_task_polls=settings.worker_workflow_polls,
            activity_task_polls=settings.worker_activity_polls,
        )


def cache_workflow_bytecode() -> bool:
    """Write the bytecode of the `workflows` package where Python looks for it; False if it could not.

    The sandbox imports the workflow modules afresh for every workflow run it starts (what is not passed
    through above), and where no bytecode is cached it compiles their source each time: an eighth of the
    worker's CPU in `make bench` (docs/PERFORMANCE.md). `PYTHONDONTWRITEBYTECODE`, which our image sets, or
    a source tree the worker may not write keeps Python from caching it on its own. Up-to-date files are
    left alone; a read-only tree (the image compiles at build time instead) is not an error.
    """
    return all(compileall.compile_dir(path, quiet=2) for path in workflows.__path__)


def workflow_runner() -> SandboxedWorkflowRunner:
    cache_workflow_bytecode()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*_PASSTHROUGH))


def build_replayer(data_converter: DataConverter) -> Replayer:
    """Replays saved histories against the workflows and sandbox a worker runs (tests, `aftercare` tools)."""
    return Replayer(workflows=WORKFLOWS, data_converter=data_converter, workflow_runner=workflow_runner())


def build_worker(
    client: Client,
    *,
    task_queue: str,
    activities: Sequence[Callable[..., Any]],
    tuning: WorkerTuning = WorkerTuning(),  # frozen: one shared default is safe
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
        graceful_shutdown_timeout=graceful_shutdown,
        **tuning.worker_options(),
    )


async def main() -> None:
    from aftercare.home import secure_home
    from aftercare.logs import configure_logging
    from aftercare.runtime import production_activities
    from aftercare.schedules import ensure_prune_schedule
    from aftercare.settings import load_settings
    from aftercare.temporal_client import connect

    settings = load_settings()
    configure_logging("worker", log_format=settings.log_format)  # redacted: no email, phone number or token
    secure_home(settings.home)  # the database and key files it creates are its owner's only
    tuning = WorkerTuning.from_settings(settings)
    # the store first: a database behind this code stops the worker here, with the command to run
    activities, close = production_activities(settings)
    client = await connect(settings, component="worker")
    await ensure_prune_schedule(client, settings.task_queue)  # the daily retention prune (aftercare.schedules)
    worker = build_worker(client, task_queue=settings.task_queue, activities=activities, tuning=tuning)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    logging.info(
        "worker polling task queue %r on %s (%s)", settings.task_queue, settings.temporal_address, tuning.describe()
    )
    async with worker:
        await stop.wait()
    await close()


if __name__ == "__main__":
    asyncio.run(main())

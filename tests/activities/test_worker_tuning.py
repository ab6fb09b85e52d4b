"""A worker takes its tuning from AFTERCARE_WORKER_* (pollers, concurrency, sticky cache): the one worker
process an operator sizes to its machine."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from aftercare.settings import Settings
from worker import WorkerTuning, build_worker


def test_tuning_is_read_from_the_environment_and_unset_keeps_the_measured_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert WorkerTuning.from_settings(Settings()) == WorkerTuning(100, 100, 3000, 5, 5)
    for variable, value in {
        "AFTERCARE_WORKER_MAX_ACTIVITIES": "40",
        "AFTERCARE_WORKER_MAX_WORKFLOW_TASKS": "20",
        "AFTERCARE_WORKER_MAX_CACHED_WORKFLOWS": "5000",
        "AFTERCARE_WORKER_WORKFLOW_POLLS": "3",
        "AFTERCARE_WORKER_ACTIVITY_POLLS": " 2 ",
    }.items():
        monkeypatch.setenv(variable, value)
    assert WorkerTuning.from_settings(Settings()) == WorkerTuning(40, 20, 5000, 3, 2)


@pytest.mark.parametrize("value", ["0", "-3", "lots", "1.5"])
def test_a_value_that_is_not_a_count_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AFTERCARE_WORKER_MAX_CACHED_WORKFLOWS", value)
    with pytest.raises(SystemExit, match=f"AFTERCARE_WORKER_MAX_CACHED_WORKFLOWS={value!r}: must be a whole number"):
        Settings()


def test_one_workflow_poller_is_refused_at_start_not_by_the_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_WORKER_WORKFLOW_POLLS", "1")
    with pytest.raises(SystemExit) as refused:
        Settings()
    assert str(refused.value).endswith(
        "AFTERCARE_WORKER_WORKFLOW_POLLS='1': must be a whole number from 2 up "
        "(the worker polls its sticky queue with one of them)"
    )


async def test_the_worker_is_built_with_it(time_skipping_env: WorkflowEnvironment) -> None:
    tuning = WorkerTuning(max_concurrent_activities=7, max_cached_workflows=123, workflow_task_polls=2)
    worker = build_worker(time_skipping_env.client, task_queue="tuning-test", activities=[], tuning=tuning)
    config = worker.config()
    assert config.get("max_concurrent_activities") == 7
    assert config.get("max_cached_workflows") == 123
    assert config.get("max_concurrent_workflow_task_polls") == 2
    assert config.get("max_concurrent_workflow_tasks") == 100  # unset: our default, not whatever the SDK's is

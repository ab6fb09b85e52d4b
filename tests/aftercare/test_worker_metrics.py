"""A worker given AFTERCARE_WORKER_METRICS_ADDRESS serves, on one Prometheus endpoint, Temporal's SDK metrics
(what an on-call engineer watches: schedule-to-start latency, slots, sticky cache) and our message counters."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.testing import WorkflowEnvironment

from aftercare.settings import load_settings
from aftercare.telemetry import metrics_runtime, temporal_runtime
from storage import Store
from tests.aftercare.observed_journey import free_port, observed_journey


def samples(text: str) -> dict[str, list[dict[str, str]]]:
    """Sample name -> the label sets it was served with."""
    out: dict[str, list[dict[str, str]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(dict(sample.labels) | {"value": f"{sample.value:g}"})
    return out


async def test_the_worker_serves_sdk_metrics_and_our_counters_after_a_journey_sends(
    time_skipping_env: WorkflowEnvironment, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with observed_journey(time_skipping_env, store, tmp_path, monkeypatch, metrics=True) as run:
        assert run.metrics_url is not None
        async with httpx.AsyncClient(timeout=5) as http:
            answer = await http.get(run.metrics_url)
    assert answer.status_code == 200
    served = samples(answer.text)

    ours = ("step", "channel", "outcome", "reason", "value")
    messages = [{k: s[k] for k in ours} for s in served.get("aftercare_messages_total", [])]
    assert {"step": "confirmation", "channel": "email", "outcome": "sent", "reason": "", "value": "1"} in messages, (
        messages
    )
    for sdk_metric in (
        "temporal_workflow_task_schedule_to_start_latency_bucket",  # in seconds (durations_as_seconds)
        "temporal_activity_schedule_to_start_latency_bucket",
        "temporal_worker_task_slots_available",
        "temporal_sticky_cache_size",  # (the hit counter appears with a journey's second task: timing, not config)
    ):
        assert sdk_metric in served, f"{sdk_metric} not served; served: {sorted(served)}"
    # no label names a customer, an order or an address
    for sample_list in served.values():
        for labels in sample_list:
            assert not any(run.order.order_id in value or "@" in value for value in labels.values()), labels


def test_a_port_already_taken_stops_the_worker_naming_the_variable() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        with pytest.raises(SystemExit, match=r"AFTERCARE_WORKER_METRICS_ADDRESS=.*Address already in use"):
            metrics_runtime(address)


def test_only_the_workers_client_serves_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_WORKER_METRICS_ADDRESS", f"127.0.0.1:{free_port()}")
    settings = load_settings()
    assert temporal_runtime(settings, "api") is None  # the API's counters are on its own /metrics
    runtime = temporal_runtime(settings, "worker")
    assert runtime is not None and temporal_runtime(settings, "worker") is runtime  # one port, bound once

"""With OTEL_EXPORTER_OTLP_ENDPOINT set, a journey's start and its work are traced through Temporal's
TracingInterceptor (spans caught in memory here instead of exported); without the packages, start-up says so."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.testing import WorkflowEnvironment

from aftercare import telemetry
from aftercare.settings import load_settings
from storage import Store
from tests.aftercare.observed_journey import observed_journey
from tests.e2e.waiting import eventually


async def test_a_journey_start_and_its_message_are_traced(
    time_skipping_env: WorkflowEnvironment, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = InMemorySpanExporter()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # the batch processor hands spans over within 50 ms
    monkeypatch.setattr(telemetry, "_otlp_exporter", lambda: spans)
    monkeypatch.setattr(telemetry, "_tracing", None)
    async with observed_journey(time_skipping_env, store, tmp_path, monkeypatch) as run:
        expected = {"StartWorkflow:OrderJourney", "RunWorkflow:OrderJourney", "RunActivity:send_message"}

        async def traced() -> None:
            names = {span.name for span in spans.get_finished_spans()}
            assert expected <= names, f"spans so far: {sorted(names)}"

        await eventually(traced, "the journey's spans")
    start = next(s for s in spans.get_finished_spans() if s.name == "StartWorkflow:OrderJourney")
    assert start.attributes is not None and start.attributes.get("temporalWorkflowID") == run.order.workflow_id
    assert start.resource.attributes["service.name"] == "aftercare-worker"
    # one trace: the activity's span descends from the start's
    activity = next(s for s in spans.get_finished_spans() if s.name == "RunActivity:send_message")
    assert start.context is not None and activity.context is not None
    assert activity.context.trace_id == start.context.trace_id


def test_an_endpoint_without_the_packages_is_said_at_start_and_the_process_runs_untraced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def missing() -> None:
        raise ImportError("No module named 'opentelemetry.exporter'", name="opentelemetry.exporter")

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    monkeypatch.setattr(telemetry, "_otlp_exporter", missing)
    monkeypatch.setattr(telemetry, "_tracing", None)
    with caplog.at_level(logging.ERROR, logger="aftercare.telemetry"):
        assert telemetry.tracing_interceptors(load_settings(), "worker") == []
    assert "OTEL_EXPORTER_OTLP_ENDPOINT is set" in caplog.text
    assert "pip install 'aftercare[otel]'" in caplog.text
    assert "WITHOUT tracing" in caplog.text


def test_no_endpoint_no_tracing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert telemetry.tracing_interceptors(load_settings(), "api") == []

"""What a process tells the people who run it besides its logs: metrics and traces, wired into the Temporal client.

- Metrics: a worker given AFTERCARE_WORKER_METRICS_ADDRESS runs Temporal's core runtime with a Prometheus
  endpoint there. It serves the SDK's own metrics (task schedule-to-start latency, task failures, sticky cache,
  slots) and ours, recorded through the SDK's metric meter (`activities.metrics`), so one scrape has both.
  Durations are in seconds and counters end in `_total`, as Prometheus names them.
- Traces: with OpenTelemetry's standard OTEL_EXPORTER_OTLP_ENDPOINT set, the client (and so its worker) carries
  the SDK's `TracingInterceptor`, exporting over OTLP/HTTP. The OpenTelemetry SDK is the optional extra
  `aftercare[otel]`; set but missing, the process says so at start and runs untraced rather than not at all.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from temporalio.client import Interceptor
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from aftercare.settings import Settings

log = logging.getLogger("aftercare.telemetry")

OTEL_EXTRA = "pip install 'aftercare[otel]'"
_runtimes: dict[str, Runtime] = {}  # one per address: a runtime binds its port once, for the life of the process
_tracing: list[Interceptor] | None = None  # the process's tracing, set up once (the tracer provider is global)


def metrics_runtime(bind_address: str) -> Runtime:
    """The Temporal runtime serving Prometheus metrics on `bind_address` (host:port), made once per process."""
    runtime = _runtimes.get(bind_address)
    if runtime is None:
        config = PrometheusConfig(bind_address=bind_address, counters_total_suffix=True, durations_as_seconds=True)
        try:
            runtime = Runtime(telemetry=TelemetryConfig(metrics=config))
        except Exception as err:  # the core's "Address already in use" and the like
            raise SystemExit(
                f"AFTERCARE_WORKER_METRICS_ADDRESS={bind_address!r}: cannot serve metrics there ({err}); "
                "pick a free host:port, or leave it unset"
            ) from None
        _runtimes[bind_address] = runtime
    return runtime


def temporal_runtime(settings: Settings, component: str) -> Runtime | None:
    """The runtime a client of `component` connects with: the worker's serves metrics when asked; None = the
    SDK's default runtime (no endpoint)."""
    if component == "worker" and settings.worker_metrics_address:
        return metrics_runtime(settings.worker_metrics_address)
    return None


def tracing_interceptors(settings: Settings, component: str) -> list[Interceptor]:
    """The SDK's TracingInterceptor exporting to the OTLP endpoint, when one is configured; else nothing."""
    global _tracing
    if not settings.otlp_endpoint:
        return []
    if _tracing is None:
        try:
            exporter = _otlp_exporter()
        except ImportError as err:
            log.error(
                "OTEL_EXPORTER_OTLP_ENDPOINT is set, but OpenTelemetry is not installed (%s): %s, or unset the "
                "variable; running WITHOUT tracing",
                err.name,
                OTEL_EXTRA,
            )
            _tracing = []
            return _tracing
        _tracing = [tracing_interceptor(_tracer_provider(component, exporter, batch=True))]
        log.info("tracing to %s as %s", settings.otlp_endpoint, _service_name(component))
    return list(_tracing)


def tracing_interceptor(tracer_provider: Any) -> Interceptor:
    """Temporal's interceptor tracing client calls, workflows and activities with `tracer_provider`'s tracer."""
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return TracingInterceptor(tracer_provider.get_tracer("aftercare"))


def tracer_provider(component: str, exporter: Any) -> Any:
    """A tracer provider naming the service, sending each span to `exporter` as it ends (tests, tools)."""
    return _tracer_provider(component, exporter, batch=False)


def _tracer_provider(component: str, exporter: Any, *, batch: bool) -> Any:
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: _service_name(component)}))
    provider.add_span_processor(BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter))
    return provider


def _otlp_exporter() -> Any:
    """OTLP over HTTP; it reads the OTEL_EXPORTER_OTLP_* variables (endpoint, headers, timeout) itself."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def _service_name(component: str) -> str:
    return os.environ.get("OTEL_SERVICE_NAME", "").strip() or f"aftercare-{component}"

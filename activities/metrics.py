"""The worker's own counters, recorded through the Temporal SDK's metric meter.

Through the meter they land wherever the SDK's metrics go (the worker's Prometheus endpoint,
`aftercare.telemetry`), beside schedule-to-start latency and task failures, under one scrape. With no metrics
configured the meter is a no-op; outside an activity (a unit test calling a method) nothing is recorded.

Labels stay bounded: steps, channels, skip reasons, provider and carrier names and error kinds are closed sets
(enums and configured connectors). Never an order id, a merchant's customer or an address.
"""

from __future__ import annotations

from temporalio import activity

MESSAGES = "aftercare_messages"  # served as aftercare_messages_total{step, channel, outcome, reason}
PROVIDER_ERRORS = "aftercare_provider_errors"  # ..._total{provider, kind}
CARRIER_POLLS = "aftercare_carrier_polls"  # ..._total{carrier, outcome}
NAMES = (MESSAGES, PROVIDER_ERRORS, CARRIER_POLLS)
"""Every counter this module records (the dashboard test checks the dashboard asks only for these and the SDK's)."""

DESCRIPTIONS = {
    MESSAGES: "Customer messages settled: sent, skipped (with its reason) or unconfirmed",
    PROVIDER_ERRORS: "Errors from messaging providers and carriers, by what became of them",
    CARRIER_POLLS: "Carrier polls by outcome",
}


def _count(name: str, labels: dict[str, str]) -> None:
    if not activity.in_activity():
        return
    activity.metric_meter().create_counter(name, DESCRIPTIONS[name]).add(1, labels)


def message_settled(step: str, channel: str, outcome: str, reason: str = "") -> None:
    """A message's row reached a final state in this attempt: `sent`, `skipped` (reason) or `unconfirmed`. The
    journey counts the skips it decides itself (consent, pause, staleness) under the same name
    (`workflows.messenger.MESSAGES_COUNTER`)."""
    _count(MESSAGES, {"step": step, "channel": channel, "outcome": outcome, "reason": reason})


def provider_error(provider: str, kind: str) -> None:
    """A provider or carrier call failed; `kind` says what we made of it (retry, recipient, configuration...)."""
    _count(PROVIDER_ERRORS, {"provider": provider, "kind": kind})


def carrier_polled(carrier: str, outcome: str) -> None:
    """One poll_carrier attempt: `answered`, `stored_only` (carrier down, stored pushes returned) or an error."""
    _count(CARRIER_POLLS, {"carrier": carrier, "outcome": outcome})

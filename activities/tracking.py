"""`poll_carrier`: ask a carrier about a parcel when its webhooks stay quiet.

The activity records what the carrier said (source 'poll', deduplicated with webhook scans on
carrier + tracking number + event id) and returns the carrier's whole answer together with every scan the
API stored for the parcel: pushes that came before its tracking started (claimed from the unmatched
ones), or while its child was not running. The workflow keeps its own list of seen event ids, so it
needs every event, not just the ones new to the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import metrics
from connectors.carriers.base import CarrierClient, CarrierError, takes_carrier
from domain import PollRequest, PollResult, TrackingEvent
from storage import Store


def rejected(req: PollRequest, exc: CarrierError) -> ApplicationError:
    """A carrier's final 'no' (unknown number...) as an error Temporal will not retry."""
    status_code = getattr(exc, "status_code", None)
    details = [{"status_code": status_code}] if status_code is not None else []
    return ApplicationError(
        f"{req.carrier} refused to track {req.tracking_number}: {exc}",
        *details,
        type="CarrierRejected",
        non_retryable=True,
    )


def waiting(req: PollRequest, exc: CarrierError) -> ApplicationError:
    """A carrier's "not now, in N seconds" as a retryable error whose next try waits that long."""
    wait = timedelta(seconds=exc.retry_after or 0)
    return ApplicationError(
        f"{req.carrier} asked us to wait {wait.total_seconds():g} s: {exc}",
        type="CarrierRateLimited",
        next_retry_delay=wait,
    )


class TrackingActivities:
    """Holds the store and the carrier clients by name; register `instance.poll_carrier`."""

    def __init__(self, store: Store, carriers: Mapping[str, CarrierClient]) -> None:
        self._store = store
        self._carriers = carriers

    @activity.defn(name="poll_carrier")
    async def poll_carrier(self, req: PollRequest) -> PollResult:
        client = self._carriers.get(req.carrier)
        if client is None:
            raise ApplicationError(
                f"no client for carrier {req.carrier!r} in this worker (known: {sorted(self._carriers)})",
                type="UnknownCarrier",
                non_retryable=True,
            )
        stored = await asyncio.to_thread(self._store.claim_parcel_events, req.carrier, req.tracking_number)
        try:
            if req.courier is not None and takes_carrier(client):
                result = await client.track(req.tracking_number, carrier=req.courier)
            else:
                result = await client.track(req.tracking_number)
        except CarrierError as exc:
            kind = "rejected" if not exc.retryable else "rate_limited" if exc.retry_after is not None else "retry"
            metrics.provider_error(req.carrier, kind)
            metrics.carrier_polled(req.carrier, "stored_only" if stored else kind)
            if stored:  # the carrier cannot answer now, but what it pushed earlier is news for the parcel
                activity.logger.warning(
                    "%s could not track %s (%s): answering with %d stored events",
                    req.carrier,
                    req.tracking_number,
                    exc,
                    len(stored),
                )
                return merged(PollResult(), stored)
            if not exc.retryable:
                raise rejected(req, exc) from exc
            if exc.retry_after is not None:  # the carrier said when to ask again (429 Retry-After): honour it
                raise waiting(req, exc) from exc
            raise  # Temporal retries with the workflow's policy (its back-off)
        metrics.carrier_polled(req.carrier, "answered")
        new = await asyncio.to_thread(self._store.record_tracking_events, result.events, "poll", None)
        activity.logger.info(
            "polled %s %s: %d events, %d new, %d stored",
            req.carrier,
            req.tracking_number,
            len(result.events),
            len(new),
            len(stored),
        )
        return merged(result, stored)


def merged(result: PollResult, stored: list[TrackingEvent]) -> PollResult:
    """The carrier's answer plus the stored scans it did not repeat, oldest first."""
    answered = {e.event_id for e in result.events}
    events = sorted([*result.events, *(e for e in stored if e.event_id not in answered)], key=lambda e: e.occurred_at)
    edd = result.estimated_delivery
    if edd is None:
        edd = next((e.estimated_delivery for e in reversed(events) if e.estimated_delivery), None)
    return PollResult(events=events, estimated_delivery=edd)

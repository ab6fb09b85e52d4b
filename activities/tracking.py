"""`poll_carrier`: ask a carrier about a parcel when its webhooks stay quiet.

The activity records what the carrier said (source 'poll', deduplicated with webhook scans on
carrier + tracking number + event id) and returns the carrier's whole answer: the workflow keeps
its own list of seen event ids, so it needs every event, not just the ones new to the database.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from temporalio import activity
from temporalio.exceptions import ApplicationError

from connectors.carriers.base import CarrierClient, CarrierError
from domain import PollRequest, PollResult
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
        try:
            result = await client.track(req.tracking_number)
        except CarrierError as exc:
            if not exc.retryable:
                raise rejected(req, exc) from exc
            raise  # Temporal retries with the workflow's policy
        new = await asyncio.to_thread(self._store.record_tracking_events, result.events, "poll", None)
        activity.logger.info(
            "polled %s %s: %d events, %d new", req.carrier, req.tracking_number, len(result.events), len(new)
        )
        return result

"""`poll_carrier` records what the carrier says once and returns the carrier's whole answer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tracking import TrackingActivities
from connectors.carriers.base import CarrierError
from connectors.carriers.shippo import ShippoCarrier
from domain import PollRequest, PollResult, TrackingEvent, TrackingStatus
from storage import Store
from tests.activities.conftest import T0

REQ = PollRequest(carrier="ups", tracking_number="1Z0001")


@dataclass
class FakeCarrier:
    """A CarrierClient that answers `track` from `events` (or raises `error`)."""

    name: str = "ups"
    events: list[TrackingEvent] = field(default_factory=list)
    error: Exception | None = None
    polls: int = 0

    async def track(self, tracking_number: str) -> PollResult:
        self.polls += 1
        if self.error is not None:
            raise self.error
        return PollResult(events=[e for e in self.events if e.tracking_number == tracking_number])

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[TrackingEvent]:
        return []


def scan(event_id: str, hours: int, status: TrackingStatus = TrackingStatus.IN_TRANSIT) -> TrackingEvent:
    return TrackingEvent(
        event_id=event_id,
        carrier="ups",
        tracking_number="1Z0001",
        status=status,
        occurred_at=T0 + timedelta(hours=hours),
    )


async def poll(tracking: TrackingActivities, req: PollRequest = REQ) -> PollResult:
    return await ActivityEnvironment().run(tracking.poll_carrier, req)


def test_poll_carrier_is_a_named_activity(store: Store) -> None:
    definition = activity._Definition.from_callable(TrackingActivities(store, {}).poll_carrier)
    assert definition is not None and definition.name == "poll_carrier"


async def test_poll_records_events_once_and_returns_them_all(store: Store) -> None:
    carrier = FakeCarrier(events=[scan("e1", 0, TrackingStatus.PENDING), scan("e2", 5)])
    tracking = TrackingActivities(store, {"ups": carrier})

    first = await poll(tracking)
    assert [e.event_id for e in first.events] == ["e1", "e2"]

    carrier.events.append(scan("e3", 9, TrackingStatus.OUT_FOR_DELIVERY))
    second = await poll(tracking)
    assert [e.event_id for e in second.events] == ["e1", "e2", "e3"]
    assert await poll(tracking) == second

    assert [e.event_id for e in store.list_tracking_events("ups", "1Z0001")] == ["e1", "e2", "e3"]
    assert carrier.polls == 3
    # a webhook bringing the same scan later is recognised as a duplicate
    assert store.record_tracking_events([scan("e3", 9, TrackingStatus.OUT_FOR_DELIVERY)], "webhook") == []


async def test_carrier_refusal_is_not_retried(store: Store) -> None:
    carrier = FakeCarrier(error=CarrierError("tracking number unknown", retryable=False, status_code=404))
    with pytest.raises(ApplicationError) as raised:
        await poll(TrackingActivities(store, {"ups": carrier}))
    assert raised.value.type == "CarrierRejected" and raised.value.non_retryable
    assert "tracking number unknown" in str(raised.value) and raised.value.details == ({"status_code": 404},)


async def test_carrier_outage_is_raised_for_temporal_to_retry(store: Store) -> None:
    carrier = FakeCarrier(error=CarrierError("503 from carrier", retryable=True))
    with pytest.raises(CarrierError, match="503"):
        await poll(TrackingActivities(store, {"ups": carrier}))
    assert store.list_tracking_events("ups", "1Z0001") == []


async def test_a_rate_limit_is_retried_after_the_wait_the_provider_asked_for(store: Store, sandbox, http) -> None:
    shippo = ShippoCarrier(sandbox.shippo_base_url, "shippo_test_sandbox", "secret", http=http)
    # (this package's own sandbox: the shared `control` fixture is bound to the connectors' one)
    fail = await http.post(
        f"{sandbox.http_url}/_sandbox/shippo/fail-next", json={"status_code": 429, "retry_after": 12}
    )
    assert fail.status_code == 200
    req = PollRequest(carrier="shippo", tracking_number="1Z2617V10397725789")

    with pytest.raises(ApplicationError) as raised:
        await poll(TrackingActivities(store, {"shippo": shippo}), req)

    assert raised.value.type == "CarrierRateLimited" and not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=12)
    assert "Shippo rate limit reached" in str(raised.value)
    assert (await poll(TrackingActivities(store, {"shippo": shippo}), req)).events == []  # the retry goes through


async def test_unknown_carrier_is_a_non_retryable_error(store: Store) -> None:
    with pytest.raises(ApplicationError) as raised:
        await poll(TrackingActivities(store, {"ups": FakeCarrier()}), PollRequest(carrier="dhl", tracking_number="X1"))
    assert raised.value.type == "UnknownCarrier" and raised.value.non_retryable


async def test_first_poll_returns_the_scans_pushed_before_the_parcel_was_registered(store: Store) -> None:
    """The webhook came first (nobody had the number yet); the carrier's own answer has nothing yet. The
    parcel's first poll still gets the pushed scans, and claims them for the parcel."""
    pushed = [scan("w1", 0, TrackingStatus.PENDING), scan("w2", 3)]
    store.record_carrier_push("ups", b'{"pushed": true}', pushed)
    carrier = FakeCarrier(events=[])

    result = await poll(TrackingActivities(store, {"ups": carrier}))
    assert result.events == pushed
    assert store.list_unmatched_events("ups", "1Z0001") == []
    assert [e.event_id for e in store.list_tracking_events("ups", "1Z0001")] == ["w1", "w2"]


async def test_stored_and_polled_scans_are_merged_once_each_oldest_first(store: Store) -> None:
    store.record_tracking_events([scan("w1", 1), scan("both", 4)], "webhook")  # pushed while no child ran
    carrier = FakeCarrier(events=[scan("p0", 0, TrackingStatus.PENDING), scan("both", 4)])
    result = await poll(TrackingActivities(store, {"ups": carrier}))
    assert [e.event_id for e in result.events] == ["p0", "w1", "both"]


async def test_a_carrier_that_cannot_answer_yet_does_not_hide_the_pushed_scans(store: Store) -> None:
    pushed = [scan("w1", 0)]
    store.record_carrier_push("ups", b"{}", pushed)
    carrier = FakeCarrier(error=CarrierError("tracking number unknown", retryable=False, status_code=404))
    result = await poll(TrackingActivities(store, {"ups": carrier}))
    assert result.events == pushed

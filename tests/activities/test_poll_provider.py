"""`poll_carrier` with a provider that must be told the carrier (AfterShip), against the sandbox's AfterShip over
real sockets: the parcel is registered under its courier, and a long `Retry-After` becomes Temporal's wait."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.tracking import TrackingActivities
from connectors.carriers.aftership import AfterShipCarrier
from domain import PollRequest, TrackingStatus
from sandbox import RunningSandbox
from storage import Store

NUMBER = "RM123456785GB"
REQ = PollRequest(carrier="aftership", tracking_number=NUMBER, courier="royal_mail")


@pytest.fixture
async def tracking(
    sandbox: RunningSandbox, webhook_secret: str, http: httpx.AsyncClient, store: Store
) -> AsyncIterator[TrackingActivities]:
    client = AfterShipCarrier(f"{sandbox.http_url}/aftership", "sandbox-key", webhook_secret, http=http, backoff=0.01)
    yield TrackingActivities(store, {"aftership": client})


async def test_the_parcel_is_registered_under_its_carrier_and_its_scans_stored(tracking, control, store):
    first = await ActivityEnvironment().run(tracking.poll_carrier, REQ)
    assert first.events == []
    registered = await control.get(f"/_sandbox/aftership/trackings/royal-mail/{NUMBER}")
    assert registered.status_code == 200  # AfterShip's slug for Royal Mail, so it pushes from now on
    await control.post(
        f"/_sandbox/aftership/trackings/royal-mail/{NUMBER}/checkpoint",
        json={"tag": "InTransit", "checkpoint_time": "2026-11-20T10:00:00Z", "deliver_webhook": False},
    )
    second = await ActivityEnvironment().run(tracking.poll_carrier, REQ)
    assert [e.status for e in second.events] == [TrackingStatus.IN_TRANSIT]
    assert [e.event_id for e in store.list_tracking_events("aftership", NUMBER)] == [second.events[0].event_id]


async def test_a_long_retry_after_is_the_activitys_next_retry_delay(tracking, control):
    (
        await control.post("/_sandbox/aftership/fail-next", json={"status_code": 429, "retry_after": 90})
    ).raise_for_status()
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(tracking.poll_carrier, REQ)
    assert raised.value.type == "CarrierRateLimited" and not raised.value.non_retryable
    assert raised.value.next_retry_delay == timedelta(seconds=90)

"""Journeys end to end on the time-skipping server: which messages went out, to whom, and when."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain import Shipment, TrackingStatus
from tests.workflows.harness import make_order, make_policy, next_monday_10utc, scan, scenario
from workflows.models import Stage

D, H = timedelta(days=1), timedelta(hours=1)
EMAIL, PHONE = "ada@example.com", "+15555550100"


async def test_on_time_delivery(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        await sc.advance_to(t0 + D)
        await sc.ship(Shipment(carrier="easypost", tracking_number="TRK1001", shipped_at=t0 + D))
        await sc.advance_to(t0 + D + 2 * H)
        await sc.webhook(scan("TRK1001", TrackingStatus.IN_TRANSIT, t0 + D + 2 * H, edd=t0 + 3 * D))
        await sc.advance_to(t0 + 2 * D + 8 * H)
        await sc.webhook(scan("TRK1001", TrackingStatus.OUT_FOR_DELIVERY, t0 + 2 * D + 8 * H))
        delivered = t0 + 2 * D + 14 * H
        await sc.advance_to(delivered)
        await sc.webhook(scan("TRK1001", TrackingStatus.DELIVERED, delivered))
        state = await sc.finish()

    assert sc.sent() == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0 + D),
        ("status_update", "sms", PHONE, t0 + 2 * D + 8 * H),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
        ("review_request", "email", EMAIL, delivered + 14 * D),
        ("review_reminder", "email", EMAIL, delivered + 21 * D),
    ]
    assert state.stage is Stage.COMPLETED
    assert state.delays == []
    assert [p.status for p in state.parcels] == [TrackingStatus.DELIVERED]
    assert len(state.messages) == 7

"""An order we hear of long after it was placed (an import, a backlog after an outage): no flood of overdue
messages. What was due more than the policy's `stale_after` before intake is skipped as `stale`; what is
still ahead goes out when due; a fresh order is confirmed as ever."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from domain import Shipment, TrackingStatus
from tests.workflows.harness import (
    delays,
    make_order,
    make_policy,
    next_monday_10utc,
    scan,
    scenario,
    skipped,
)
from workflows.models import Stage

D, H = timedelta(days=1), timedelta(hours=1)
EMAIL = "ada@example.com"
# make_policy merges `steps` into its own: only the review request moves (21 days after delivery, not 14)
LATER_REVIEWS = {"review_request": {"after": "21d", "reminder_after": "7d", "channels": ["email"]}}


async def test_an_order_placed_twenty_days_before_intake_sends_only_what_is_still_ahead(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)  # intake
    placed = t0 - 20 * D
    delivered = t0 - 16 * D + 4 * H
    async with scenario(time_skipping_env) as sc:
        sc.script(
            scan("TRK-OLD", TrackingStatus.IN_TRANSIT, placed + D),
            scan("TRK-OLD", TrackingStatus.OUT_FOR_DELIVERY, delivered - 3 * H),
            scan("TRK-OLD", TrackingStatus.DELIVERED, delivered),
        )
        await sc.start(make_order(placed), make_policy(steps=LATER_REVIEWS))
        await sc.advance_to(t0 + H)  # the store's backlog: the parcel's news comes an hour later
        await sc.ship(Shipment(carrier="easypost", tracking_number="TRK-OLD", shipped_at=placed + D))
        state = await sc.finish()
        await sc.record("stale_import")

    # No flood: nothing went out at intake; the review request and its reminder, still ahead, went when due.
    assert sc.sent() == [
        ("review_request", "email", EMAIL, delivered + 21 * D),
        ("review_reminder", "email", EMAIL, delivered + 28 * D),
    ]
    assert sorted(skipped(state)) == sorted(
        [
            ("confirmation", "email", "stale", t0),
            ("delay_alert", "email", "stale", t0),  # the fulfillment ladder's two rungs, long past
            ("delay_alert", "email", "stale", t0),
            ("status_update", "sms", "stale", t0 + H),  # "out for delivery" sixteen days ago
            ("delivered", "email", "stale", t0 + H),
            ("follow_up", "email", "stale", t0 + H),
        ]
    )
    # The facts are still recorded: the order was late to ship, and the parcel was delivered.
    assert [(kind, level) for kind, _, level, _ in delays(state)] == [("fulfillment_late", 1), ("fulfillment_late", 2)]
    assert [p.status for p in state.parcels] == [TrackingStatus.DELIVERED]
    assert state.stage is Stage.COMPLETED
    stale = next(m for m in state.messages if m.step.value == "confirmation")
    assert stale.detail == f"due {placed:%Y-%m-%d %H:%M} UTC, long before the order reached us"


async def test_an_order_placed_two_hours_before_intake_is_confirmed_as_ever(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0 - 2 * H), make_policy())
        await sc.advance_to(t0 + 10 * timedelta(minutes=1))
        state = await sc.state()
    assert sc.sent() == [("confirmation", "email", EMAIL, t0)]
    assert skipped(state) == []


async def test_a_policy_without_stale_after_sends_even_a_month_old_confirmation(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(defaults={"quiet_hours": {}, "stale_after": None}, delays={"fulfillment_ladder": []})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0 - 30 * D), policy)
        await sc.advance_to(t0 + 10 * timedelta(minutes=1))
    assert sc.sent() == [("confirmation", "email", EMAIL, t0)]


async def test_news_a_carrier_dates_before_a_fresh_order_is_not_stale(time_skipping_env: WorkflowEnvironment) -> None:
    """A parcel "delivered two days ago" on an order placed now (a test tracking code, a scan in the wrong
    zone): nothing is due before the order was placed, so the customer still hears it arrived."""
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        sc.script(
            scan("TRK-EARLY", TrackingStatus.IN_TRANSIT, t0 - 3 * D),
            scan("TRK-EARLY", TrackingStatus.DELIVERED, t0 - 2 * D),
        )
        await sc.start(make_order(t0), make_policy(delays={"fulfillment_ladder": []}))
        await sc.advance_to(t0 + H)
        await sc.ship(Shipment(carrier="easypost", tracking_number="TRK-EARLY"))
        await sc.advance_to(t0 + 2 * H)
        state = await sc.state()
    assert [s[:2] for s in sc.sent()] == [("confirmation", "email"), ("delivered", "email")]
    assert skipped(state) == []

"""Journeys end to end on the time-skipping server: which messages went out, to whom, and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise

from temporalio.testing import WorkflowEnvironment

from aftercare.histories import collect, replay
from domain import ExceptionReason, Shipment, TrackingStatus, shipment_workflow_id
from tests.conftest import CONVERTER
from tests.workflows.harness import (
    Scenario,
    delays,
    local,
    make_order,
    make_policy,
    midnight_utc,
    next_monday_10utc,
    scan,
    scenario,
    skipped,
    to_the_minute,
)
from worker import build_replayer
from workflows.models import JourneyState, Stage

D, H = timedelta(days=1), timedelta(hours=1)
# Scans land a little off the hour, away from the hourly polls (Scenario.signal says why that matters).
Q = timedelta(minutes=17)
EMAIL, PHONE = "ada@example.com", "+15555550100"
NY = "America/New_York"


async def _moves_then_arrives(sc: Scenario, tracking_number: str, moving: datetime, delivered: datetime) -> None:
    """The carrier scans the parcel in transit at `moving`, then delivered at `delivered` (each by webhook)."""
    await sc.scan_at(tracking_number, TrackingStatus.IN_TRANSIT, moving)
    await sc.scan_at(tracking_number, TrackingStatus.DELIVERED, delivered)


async def _ship_and_move(sc: Scenario, t0: datetime, tracking_number: str) -> None:
    """The parcel ships at t0 and its carrier scans it in transit two hours later."""
    await sc.ship(Shipment(carrier="easypost", tracking_number=tracking_number, shipped_at=t0))
    await sc.scan_at(tracking_number, TrackingStatus.IN_TRANSIT, t0 + 2 * H + Q)


def _sent_up_to_the_follow_up(t0: datetime, delivered: datetime) -> list[tuple[str, str, str, datetime]]:
    """The first messages of an order shipped at once and delivered at `delivered`, nothing in between."""
    return [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]


def _delivered_then_reviews(delivered: datetime) -> list[tuple[str, str, str, datetime]]:
    """The last messages of a journey that asks for a review: delivered, follow-up, review request, reminder."""
    return [
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
        ("review_request", "email", EMAIL, delivered + 14 * D),
        ("review_reminder", "email", EMAIL, delivered + 21 * D),
    ]


def _assert_open_until_the_return_window_closes(state: JourneyState, delivered: datetime) -> None:
    """Nothing more to send, but the journey stays open for support until the return window closes."""
    closes = delivered + 30 * D
    assert state.returns_open_until == closes
    assert state.completed_at is not None and closes <= state.completed_at < closes + 1 * H


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
        await sc.record("on_time")
        lengths = await sc.history_lengths()

    assert sc.sent() == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0 + D),
        ("status_update", "sms", PHONE, t0 + 2 * D + 8 * H),
        *_delivered_then_reviews(delivered),
    ]
    assert state.stage is Stage.COMPLETED
    assert state.delays == []
    assert [p.status for p in state.parcels] == [TrackingStatus.DELIVERED]
    assert len(state.messages) == 7
    # History budget of a typical order: the journey stays small (its child tells it only what changes its
    # plan); the child's events are mostly two days of polls. Far below Temporal's 10,240-event warning.
    assert lengths.keys() == {sc.order.workflow_id, "shipment~acme~easypost~TRK1001"}  # type: ignore[union-attr]
    [journey_events] = lengths[sc.order.workflow_id]  # type: ignore[union-attr]
    [child_events] = lengths["shipment~acme~easypost~TRK1001"]
    assert journey_events <= 80, journey_events
    assert child_events <= 500, child_events


# --- 1. late fulfillment --------------------------------------------------------------------------


async def test_late_fulfillment_ladder_then_shipped(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        await sc.advance_to(t0 + 3 * D)
        waiting = await sc.state()
        assert waiting.stage is Stage.AWAITING_FULFILLMENT
        assert delays(waiting) == [("fulfillment_late", None, 1, t0 + 2 * D)]
        assert waiting.next_action is not None and waiting.next_action.due_at == t0 + 5 * D
        await sc.advance_to(t0 + 6 * D)
        both_fired = await sc.state()
        assert delays(both_fired)[-1] == ("fulfillment_late", None, 2, t0 + 5 * D)
        assert both_fired.next_action is None, "no check is left: check 2 fired a day ago"
        await sc.ship(Shipment(carrier="easypost", tracking_number="LATE1001", shipped_at=t0 + 6 * D))
        in_transit = await sc.state()
        assert in_transit.next_action is None and in_transit.planned == []
        delivered = t0 + 7 * D + 4 * H + Q
        await _moves_then_arrives(sc, "LATE1001", t0 + 6 * D + 3 * H + Q, delivered)
        state = await sc.finish()
        await sc.record("delayed_fulfillment")

    assert sc.sent() == [
        ("confirmation", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, t0 + 2 * D),
        ("delay_alert", "email", EMAIL, t0 + 5 * D),
        ("shipped", "email", EMAIL, t0 + 6 * D),
        *_delivered_then_reviews(delivered),
    ]
    assert sc.alerts() == [("fulfillment_late", 1, t0 + 2 * D), ("fulfillment_late", 2, t0 + 5 * D)]
    assert delays(state) == [("fulfillment_late", None, 1, t0 + 2 * D), ("fulfillment_late", None, 2, t0 + 5 * D)]
    assert state.stage is Stage.COMPLETED
    assert [(p.tracking_number, p.status) for p in state.parcels] == [("LATE1001", TrackingStatus.DELIVERED)]


async def test_shipment_between_checks_drops_the_next_check(time_skipping_env: WorkflowEnvironment) -> None:
    """A parcel shipped after check 1 and before check 2: check 2 is no longer planned, nor run."""
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        await sc.advance_to(t0 + 3 * D)
        waiting = await sc.state()
        assert waiting.next_action is not None
        assert (waiting.next_action.what, waiting.next_action.due_at) == ("fulfillment check 2", t0 + 5 * D)
        await sc.ship(Shipment(carrier="easypost", tracking_number="MID1001", shipped_at=t0 + 3 * D))
        shipped = await sc.state()
        assert shipped.stage is Stage.IN_TRANSIT
        assert shipped.next_action is None, "check 2 is moot once the parcel shipped"
        delivered = t0 + 6 * D + Q
        await _moves_then_arrives(sc, "MID1001", t0 + 3 * D + 3 * H + Q, delivered)
        await sc.advance_to(delivered + H)  # the child ends and the journey plans what follows delivery
        after = await sc.state()
        assert after.next_action is not None and after.next_action.what == "follow_up"
        assert after.next_action.due_at == delivered + 3 * D
        state = await sc.finish()

    assert sc.alerts() == [("fulfillment_late", 1, t0 + 2 * D)]
    assert state.next_action is None


async def test_late_fulfillment_counts_business_days(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)  # Monday 10:00 UTC
    policy = make_policy(delays={"fulfillment_ladder": ["2bd", "5bd"]})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), policy)
        await sc.advance_to(t0 + 8 * D)  # the Tuesday after
        await sc.ship(Shipment(carrier="easypost", tracking_number="LATEBD1001", shipped_at=t0 + 8 * D))
        await _moves_then_arrives(sc, "LATEBD1001", t0 + 8 * D + 2 * H + Q, t0 + 9 * D + Q)
        state = await sc.finish()

    wednesday, next_monday = t0 + 2 * D, t0 + 7 * D
    assert (wednesday.weekday(), next_monday.weekday()) == (2, 0)
    assert sc.alerts() == [("fulfillment_late", 1, wednesday), ("fulfillment_late", 2, next_monday)]
    assert sc.sent()[:5] == [
        ("confirmation", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, wednesday),
        ("delay_alert", "email", EMAIL, next_monday),
        ("shipped", "email", EMAIL, t0 + 8 * D),
        ("delivered", "email", EMAIL, t0 + 9 * D + Q),
    ]
    assert delays(state) == [("fulfillment_late", None, 1, wednesday), ("fulfillment_late", None, 2, next_monday)]
    assert state.stage is Stage.COMPLETED


# --- 2. stalled parcel, late pickup ---------------------------------------------------------------


async def test_stalled_parcel_alerts_once_per_episode(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(tracking={"poll_every": "6h", "poll_backoff": 1.0, "poll_max_interval": "6h"})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), policy)
        await sc.ship(Shipment(carrier="easypost", tracking_number="STALL1001", shipped_at=t0))
        first = t0 + 3 * H
        sc.script(scan("STALL1001", TrackingStatus.IN_TRANSIT, first))  # only the carrier's API knows it
        await sc.advance_to(first + 71 * H)
        quiet = await sc.state()
        assert quiet.parcels[0].status is TrackingStatus.IN_TRANSIT
        assert quiet.parcels[0].last_event_at == first
        assert sc.alerts() == []
        await sc.advance_to(first + 73 * H)
        assert sc.alerts() == [("stalled", 1, first + 72 * H)]
        resumed = t0 + 4 * D + Q
        await sc.scan_at("STALL1001", TrackingStatus.IN_TRANSIT, resumed)
        out = resumed + 74 * H  # a second silence, as long
        await sc.scan_at("STALL1001", TrackingStatus.OUT_FOR_DELIVERY, out)
        delivered = out + 5 * H
        await sc.scan_at("STALL1001", TrackingStatus.DELIVERED, delivered)
        state = await sc.finish()

    assert sc.sent()[:7] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, first + 72 * H),
        ("delay_alert", "email", EMAIL, resumed + 72 * H),
        ("status_update", "sms", PHONE, out),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]
    assert sc.alerts() == [("stalled", 1, first + 72 * H), ("stalled", 1, resumed + 72 * H)]
    assert delays(state) == [
        ("stalled", "STALL1001", 1, first + 72 * H),
        ("stalled", "STALL1001", 1, resumed + 72 * H),
    ]
    # the carrier was asked every 6 hours through the first silence and had nothing new to say
    silent = [p for p in sc.polls("STALL1001") if first < p < resumed]
    assert len(silent) == 16  # +6h ... +96h
    assert all(timedelta(hours=5, minutes=59) < b - a < timedelta(hours=6, minutes=1) for a, b in pairwise(silent))
    assert state.parcels[0].events_seen == 4
    assert state.stage is Stage.COMPLETED


async def test_pickup_late_when_label_but_no_scan(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())  # pickup_sla: 1d
        await sc.advance_to(t0 + 1 * D)
        await sc.ship(Shipment(carrier="easypost", tracking_number="PICK1001", shipped_at=t0 + 1 * D))
        await sc.advance_to(t0 + 2 * D + 5 * H)
        labelled = await sc.state()
        assert [p.status for p in labelled.parcels] == [TrackingStatus.PENDING]
        assert delays(labelled) == [("pickup_late", "PICK1001", 1, t0 + 2 * D)]
        await _moves_then_arrives(sc, "PICK1001", t0 + 2 * D + 5 * H + Q, t0 + 3 * D + Q)
        state = await sc.finish()

    assert sc.sent()[:5] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0 + 1 * D),
        ("delay_alert", "email", EMAIL, t0 + 2 * D),
        ("delivered", "email", EMAIL, t0 + 3 * D + Q),
        ("follow_up", "email", EMAIL, t0 + 6 * D + Q),
    ]
    assert sc.alerts() == [("pickup_late", 1, t0 + 2 * D)]
    assert delays(state) == [("pickup_late", "PICK1001", 1, t0 + 2 * D)]


# --- 3. estimated delivery date -------------------------------------------------------------------


async def test_edd_given_as_a_date_is_missed_at_the_end_of_that_local_day(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The date is the customer's: it ends at midnight New York time, whatever zone the merchant is in."""
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(
        merchant={"id": "acme", "name": "Acme", "timezone": "Europe/Berlin"},
        delays={"edd_grace": "2h"},
    )
    order = make_order(t0, customer={"timezone": NY})
    edd = midnight_utc(t0 + 2 * D)  # "Wednesday", as carriers send a bare date
    async with scenario(time_skipping_env) as sc:
        await sc.start(order, policy)
        await sc.ship(Shipment(carrier="easypost", tracking_number="EDD1001", shipped_at=t0))
        await sc.scan_at("EDD1001", TrackingStatus.IN_TRANSIT, t0 + 1 * H + Q, edd=edd)
        await sc.scan_at("EDD1001", TrackingStatus.IN_TRANSIT, t0 + 2 * D + Q)
        end_of_wednesday_ny = local(edd.date() + D, "00:00", NY)
        missed = end_of_wednesday_ny + 2 * H
        await sc.advance_to(missed - 1 * H)
        assert sc.alerts() == []  # Wednesday evening in New York: still on time
        delivered = t0 + 3 * D + 10 * H + Q
        await sc.scan_at("EDD1001", TrackingStatus.DELIVERED, delivered)
        state = await sc.finish()

    assert sc.alerts() == [("edd_missed", 1, missed)]
    assert delays(state) == [("edd_missed", "EDD1001", 1, missed)]
    assert sc.sent()[:5] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, missed),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]
    assert state.parcels[0].estimated_delivery == edd


async def test_edd_revised_later_alerts_once_per_revision(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    day = [midnight_utc(t0 + n * D) for n in range(8)]
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        await sc.ship(Shipment(carrier="easypost", tracking_number="REV1001", shipped_at=t0))
        for at, edd in [
            (t0 + 1 * H, day[3]),  # first estimate: nothing to alert
            (t0 + 1 * D, day[5]),  # later: alert
            (t0 + 2 * D, day[4]),  # earlier: good news, no alert
            (t0 + 2 * D + 6 * H, day[5]),  # back to what the customer was already told: no alert
            (t0 + 3 * D, day[5]),  # the same estimate again: no alert
            (t0 + 4 * D, day[6]),  # later again: alert
        ]:
            await sc.scan_at("REV1001", TrackingStatus.IN_TRANSIT, at + Q, edd=edd)
        delivered = t0 + 5 * D + Q
        await sc.scan_at("REV1001", TrackingStatus.DELIVERED, delivered)
        state = await sc.finish()

    revised = [t0 + 1 * D + Q, t0 + 4 * D + Q]
    assert sc.alerts() == [("edd_revised", 1, revised[0]), ("edd_revised", 1, revised[1])]
    assert delays(state) == [("edd_revised", "REV1001", 1, revised[0]), ("edd_revised", "REV1001", 1, revised[1])]
    assert [r.context["shipment"]["estimated_delivery"] for r in sc.provider.of_step("delay_alert")] == [
        day[5].date().isoformat(),
        day[6].date().isoformat(),
    ]
    parcel = state.parcels[0]
    assert parcel.edd_history == [day[3], day[5], day[4], day[5], day[6]]
    assert parcel.estimated_delivery == day[6]
    assert sc.sent()[:6] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, revised[0]),
        ("delay_alert", "email", EMAIL, revised[1]),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]


# --- 4. carrier exception -------------------------------------------------------------------------


async def test_carrier_exception_alerts_once_per_episode(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    weather = {"exception_reason": ExceptionReason.WEATHER}
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        await _ship_and_move(sc, t0, "EXC1001")
        await sc.scan_at("EXC1001", TrackingStatus.EXCEPTION, t0 + 1 * D + Q, **weather)
        await sc.scan_at("EXC1001", TrackingStatus.EXCEPTION, t0 + 1 * D + 8 * H + Q, **weather)  # same episode
        await sc.advance_to(t0 + 1 * D + 9 * H)
        snowed_in = await sc.state()
        assert snowed_in.parcels[0].status is TrackingStatus.EXCEPTION
        assert len(snowed_in.delays) == 1
        await sc.scan_at("EXC1001", TrackingStatus.IN_TRANSIT, t0 + 2 * D + Q)  # resolved
        await sc.scan_at("EXC1001", TrackingStatus.EXCEPTION, t0 + 2 * D + 6 * H + Q, **weather)  # a new episode
        await _moves_then_arrives(sc, "EXC1001", t0 + 2 * D + 12 * H + Q, t0 + 3 * D + Q)
        state = await sc.finish()
        await sc.record("delayed_carrier_exception")

    episodes = [t0 + 1 * D + Q, t0 + 2 * D + 6 * H + Q]
    assert sc.alerts() == [("carrier_exception", 1, episodes[0]), ("carrier_exception", 1, episodes[1])]
    assert [r.context["delay"].get("reason") for r in sc.provider.of_step("delay_alert")] == ["weather", "weather"]
    assert delays(state) == [
        ("carrier_exception", "EXC1001", 1, episodes[0]),
        ("carrier_exception", "EXC1001", 1, episodes[1]),
    ]
    assert all(d.detail.startswith("weather") for d in state.delays)
    assert sc.sent()[:6] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, episodes[0]),
        ("delay_alert", "email", EMAIL, episodes[1]),
        ("delivered", "email", EMAIL, t0 + 3 * D + Q),
        ("follow_up", "email", EMAIL, t0 + 6 * D + Q),
    ]
    assert state.stage is Stage.COMPLETED
    assert state.parcels[0].status is TrackingStatus.DELIVERED


# --- 5. split shipment ----------------------------------------------------------------------------

TWO_ITEMS = [
    {"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "30.00"},
    {"id": "li-2", "sku": "TEA-1", "name": "Tea", "quantity": 1, "unit_price": "24.00"},
]


async def test_split_shipment_times_the_follow_up_from_the_last_parcel(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0, items=TWO_ITEMS), make_policy())
        await sc.advance_to(t0 + 1 * D)
        await sc.ship(Shipment(carrier="easypost", tracking_number="SPLITA1", items={"li-1": 1}, shipped_at=t0 + D))
        await sc.advance_to(t0 + 1 * D + 1 * H)
        assert (await sc.state()).stage is Stage.PARTIALLY_SHIPPED
        first = t0 + 2 * D + 2 * H + Q
        await _moves_then_arrives(sc, "SPLITA1", t0 + 1 * D + 4 * H + Q, first)
        await sc.advance_to(t0 + 3 * D)
        half = await sc.state()
        assert half.stage is Stage.PARTIALLY_SHIPPED
        assert [(p.tracking_number, p.status) for p in half.parcels] == [("SPLITA1", TrackingStatus.DELIVERED)]
        assert half.planned == []  # nothing is timed from the first parcel
        await sc.ship(Shipment(carrier="easypost", tracking_number="SPLITB1", items={"li-2": 1}, shipped_at=t0 + 3 * D))
        await sc.advance_to(t0 + 3 * D + 1 * H)
        assert (await sc.state()).stage is Stage.IN_TRANSIT
        last = t0 + 5 * D + Q
        await _moves_then_arrives(sc, "SPLITB1", t0 + 3 * D + 4 * H + Q, last)
        state = await sc.finish()
        await sc.record("split_shipment")

    assert sc.sent() == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0 + 1 * D),
        ("delivered", "email", EMAIL, first),
        ("shipped", "email", EMAIL, t0 + 3 * D),
        *_delivered_then_reviews(last),
    ]
    for step in ("shipped", "delivered"):
        assert [r.context["shipment"]["tracking_number"] for r in sc.provider.of_step(step)] == ["SPLITA1", "SPLITB1"]
    assert [(p.tracking_number, p.items, p.status) for p in state.parcels] == [
        ("SPLITA1", {"li-1": 1}, TrackingStatus.DELIVERED),
        ("SPLITB1", {"li-2": 1}, TrackingStatus.DELIVERED),
    ]
    assert state.delays == []
    assert state.stage is Stage.COMPLETED


# --- 6. reorder reminders -------------------------------------------------------------------------

COFFEE = [{"id": "li-1", "sku": "COFFEE-250", "name": "Coffee 250g", "quantity": 2, "unit_price": "12.00"}]
COFFEE_RULE = {
    "skus": ["COFFEE-*"],
    "supply_days_per_unit": 15,
    "remind_before": "3d",
    "repeat_every": "7d",
    "max_reminders": 3,
}


async def _deliver_quickly(sc: Scenario, t0: datetime, tracking_number: str) -> datetime:
    """Shipped at t0, in transit two hours later, delivered the next day: returns the delivery moment."""
    await _ship_and_move(sc, t0, tracking_number)
    await sc.scan_at(tracking_number, TrackingStatus.DELIVERED, t0 + 1 * D + Q)
    return t0 + 1 * D + Q


async def test_reorder_reminders_before_the_supply_runs_out(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0, items=COFFEE), make_policy(reorder=[COFFEE_RULE]))
        delivered = await _deliver_quickly(sc, t0, "REO1001")
        state = await sc.finish()
        await sc.record("reorder")

    runs_out = delivered + 30 * D  # 2 bags x 15 days
    assert sc.sent() == [
        *_sent_up_to_the_follow_up(t0, delivered),
        ("review_request", "email", EMAIL, delivered + 14 * D),
        ("review_reminder", "email", EMAIL, delivered + 21 * D),
        ("reorder_reminder", "email", EMAIL, runs_out - 3 * D),
        ("reorder_reminder", "email", EMAIL, runs_out + 4 * D),
        ("reorder_reminder", "email", EMAIL, runs_out + 11 * D),
    ]
    assert [r.context["reorder"]["sku"] for r in sc.provider.of_step("reorder_reminder")] == ["COFFEE-250"] * 3
    assert state.stage is Stage.COMPLETED
    assert state.completed_at is not None and state.completed_at >= runs_out + 11 * D


async def test_reordered_signal_cancels_pending_reminders(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    three_bags = [{**COFFEE[0], "quantity": 3}]
    rule = {**COFFEE_RULE, "supply_days_per_unit": 9, "remind_before": "2bd"}  # business days count back
    policy = make_policy(reorder=[rule], steps={"review_request": {"enabled": False}})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0, items=three_bags), policy)
        delivered = await _deliver_quickly(sc, t0, "REO2001")
        runs_out = delivered + 27 * D  # a Monday
        first = runs_out - 4 * D  # two business days before: the Thursday
        assert (runs_out.weekday(), first.weekday()) == (0, 3)
        await sc.advance_to(first + 1 * H)
        await sc.reordered("TEA-1", new_order_id="B2")  # another product: changes nothing
        await sc.advance_to(first + 2 * H)
        planned = await sc.state()
        assert [(p.what, p.due_at) for p in planned.planned] == [
            ("reorder_reminder (li-1)", first + 7 * D),
            ("reorder_reminder (li-1)", first + 14 * D),
        ]
        await sc.advance_to(runs_out)
        await sc.reordered("COFFEE-250", new_order_id="B3")  # what the API sends on the new order
        state = await sc.finish()

    assert sc.sent() == [
        *_sent_up_to_the_follow_up(t0, delivered),
        ("reorder_reminder", "email", EMAIL, first),
    ]
    assert state.reordered_skus == ["COFFEE-250", "TEA-1"]
    assert state.planned == [] and state.next_action is None
    assert state.stage is Stage.COMPLETED
    _assert_open_until_the_return_window_closes(state, delivered)


# --- 7. no marketing consent ----------------------------------------------------------------------


async def test_no_marketing_consent_skips_marketing_steps(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(reorder=[{**COFFEE_RULE, "max_reminders": 1}])
    order = make_order(t0, items=COFFEE, customer={"marketing_consent": False})
    async with scenario(time_skipping_env) as sc:
        await sc.start(order, policy)
        await _ship_and_move(sc, t0, "NOMK1001")
        await sc.scan_at("NOMK1001", TrackingStatus.OUT_FOR_DELIVERY, t0 + 1 * D + Q)
        delivered = t0 + 1 * D + 5 * H + Q
        await sc.scan_at("NOMK1001", TrackingStatus.DELIVERED, delivered)
        state = await sc.finish()

    assert sc.sent() == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("status_update", "sms", PHONE, t0 + 1 * D + Q),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]
    assert not any(r.marketing for r in sc.provider.requests.values())
    assert skipped(state) == [
        ("review_request", "email", "opted_out", delivered + 14 * D),
        ("review_reminder", "email", "opted_out", delivered + 21 * D),
        ("reorder_reminder", "email", "opted_out", delivered + 27 * D),
    ]
    assert state.stage is Stage.COMPLETED


# --- 8. quiet hours -------------------------------------------------------------------------------

QUIET_SMS = {"quiet_hours": {"sms": {"start": "21:00", "end": "08:00"}}}


async def test_quiet_hours_defer_the_sms_not_the_email(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(defaults=QUIET_SMS, steps={"status_update": {"channels": ["sms", "email"]}})
    order = make_order(t0, customer={"timezone": NY})
    out = local(t0 + 1 * D, "22:30", NY)
    morning = local(t0 + 2 * D, "08:00", NY)
    async with scenario(time_skipping_env) as sc:
        await sc.start(order, policy)
        await _ship_and_move(sc, t0, "QUIET1001")
        await sc.scan_at("QUIET1001", TrackingStatus.OUT_FOR_DELIVERY, out)
        await sc.advance_to(out + 30 * Q)
        at_night = await sc.state()
        assert at_night.parcels[0].status is TrackingStatus.OUT_FOR_DELIVERY  # the journey is not held up
        assert [(m.step.value, m.channel.value) for m in at_night.messages][-1] == ("status_update", "email")
        delivered = local(t0 + 2 * D, "13:17", NY)
        await sc.scan_at("QUIET1001", TrackingStatus.DELIVERED, delivered)
        state = await sc.finish()

    assert sc.sent()[:6] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("status_update", "email", EMAIL, out),
        ("status_update", "sms", PHONE, morning),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]
    assert skipped(state) == []


async def test_quiet_hours_hold_no_later_news(time_skipping_env: WorkflowEnvironment) -> None:
    """Delivered overnight: the delivered email goes out at once; the held "out for delivery" SMS never does."""
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(defaults=QUIET_SMS)
    order = make_order(t0, customer={"timezone": NY})
    out = local(t0 + 1 * D, "22:30", NY)
    delivered = local(t0 + 1 * D, "23:15", NY)
    morning = local(t0 + 2 * D, "08:00", NY)
    async with scenario(time_skipping_env) as sc:
        await sc.start(order, policy)
        await _ship_and_move(sc, t0, "QUIET2001")
        await sc.scan_at("QUIET2001", TrackingStatus.OUT_FOR_DELIVERY, out)
        await sc.scan_at("QUIET2001", TrackingStatus.DELIVERED, delivered)
        await sc.advance_to(delivered + 1 * H)
        overnight = await sc.state()
        assert [p.status for p in overnight.parcels] == [TrackingStatus.DELIVERED]
        assert overnight.stage is Stage.DELIVERED
        state = await sc.finish()

    assert sc.sent()[:4] == _sent_up_to_the_follow_up(t0, delivered)
    assert skipped(state) == [("status_update", "sms", "not_applicable", morning)]


# --- 9. policy variants ---------------------------------------------------------------------------


async def test_international_variant_delays_the_review(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    international = {
        "name": "international",
        "when": {"country_not_in": ["US"]},
        "override": {"steps": {"review_request": {"after": "21d"}}},
    }
    order = make_order(t0, shipping_address={"country": "DE"}, currency="EUR")
    async with scenario(time_skipping_env) as sc:
        await sc.start(order, make_policy(variants=[international]))
        delivered = await _deliver_quickly(sc, t0, "INTL1001")
        state = await sc.finish()

    assert sc.sent() == [
        *_sent_up_to_the_follow_up(t0, delivered),
        ("review_request", "email", EMAIL, delivered + 21 * D),
        ("review_reminder", "email", EMAIL, delivered + 28 * D),
    ]
    assert state.variants == ["international"]
    assert state.stage is Stage.COMPLETED


# --- 10. reviews ----------------------------------------------------------------------------------


async def _review_submitted_after(
    env: WorkflowEnvironment, tracking_number: str, after_delivery: timedelta
) -> tuple[Scenario, datetime, datetime, JourneyState]:
    """A whole-order review, submitted `after_delivery` a quick delivery; the journey run to its end."""
    t0 = await next_monday_10utc(env)
    async with scenario(env) as sc:
        await sc.start(make_order(t0), make_policy())
        delivered = await _deliver_quickly(sc, t0, tracking_number)
        await sc.advance_to(delivered + after_delivery)
        await sc.review_submitted()
        state = await sc.finish()
    return sc, t0, delivered, state


async def test_review_submitted_before_the_request(time_skipping_env: WorkflowEnvironment) -> None:
    sc, t0, delivered, state = await _review_submitted_after(time_skipping_env, "REV2001", 5 * D)

    assert sc.sent() == _sent_up_to_the_follow_up(t0, delivered)
    assert state.review_submitted is True
    assert skipped(state) == []
    assert state.stage is Stage.COMPLETED
    _assert_open_until_the_return_window_closes(state, delivered)


async def test_review_submitted_after_the_request_cancels_the_reminder(time_skipping_env: WorkflowEnvironment) -> None:
    sc, _, delivered, state = await _review_submitted_after(time_skipping_env, "REV3001", 16 * D)

    assert sc.sent()[-2:] == [
        ("follow_up", "email", EMAIL, delivered + 3 * D),
        ("review_request", "email", EMAIL, delivered + 14 * D),
    ]
    assert not sc.provider.of_step("review_reminder")
    assert state.stage is Stage.COMPLETED
    _assert_open_until_the_return_window_closes(state, delivered)


async def test_reviews_per_item(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(
        steps={"review_request": {"after": "14d", "reminder_after": "7d", "per": "item", "channels": ["email"]}}
    )
    policy.merchant.links["review"] = "https://shop.test/review/{order_id}/{sku}"  # type: ignore[index]
    async with scenario(time_skipping_env) as sc:
        order = make_order(t0, items=TWO_ITEMS)
        await sc.start(order, policy)
        delivered = await _deliver_quickly(sc, t0, "REV4001")
        await sc.advance_to(delivered + 16 * D)
        await sc.review_submitted("li-1")  # the mug is reviewed; the tea is not
        state = await sc.finish()

    def per_item(step: str) -> list[tuple[str, datetime]]:
        requests = sc.provider.of_step(step)
        return sorted((r.context["item"]["id"], to_the_minute(r.requested_at)) for r in requests)

    assert per_item("review_request") == [("li-1", delivered + 14 * D), ("li-2", delivered + 14 * D)]
    # Each item's request links to that item's review page, its sku filled in (never a bare {sku}).
    links = sorted(r.context["links"]["review"] for r in sc.provider.of_step("review_request"))
    assert links == sorted(f"https://shop.test/review/{order.order_id}/{i.sku}" for i in order.items)
    assert per_item("review_reminder") == [("li-2", delivered + 21 * D)]
    assert state.reviewed_items == ["li-1"]
    assert state.review_submitted is False
    assert state.stage is Stage.COMPLETED


# --- 11. duplicate and out-of-order scans ---------------------------------------------------------


async def test_duplicate_and_out_of_order_scans(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy(delays={"pickup_sla": "2d"}))
        await sc.ship(Shipment(carrier="easypost", tracking_number="DUP1001", shipped_at=t0))
        tomorrow, day_after = midnight_utc(t0 + 1 * D), midnight_utc(t0 + 2 * D)
        early = scan("DUP1001", TrackingStatus.IN_TRANSIT, t0 + 2 * H, edd=day_after)
        out = scan("DUP1001", TrackingStatus.OUT_FOR_DELIVERY, t0 + 1 * D + Q, edd=tomorrow)
        sc.script(out)  # the carrier's API has it too: the next poll returns it again
        await sc.advance_to(out.occurred_at)
        await sc.webhook(out)
        await sc.webhook(out)  # the carrier retried its webhook
        await sc.advance_to(out.occurred_at + 2 * H)
        assert any(p > out.occurred_at for p in sc.polls("DUP1001"))  # and a poll saw it once more
        await sc.webhook(early)  # an older scan, late, with an older estimate
        await sc.advance_to(out.occurred_at + 3 * H)
        parcel = await sc.parcel("DUP1001")
        assert parcel.status is TrackingStatus.OUT_FOR_DELIVERY
        assert parcel.last_event_at == out.occurred_at
        assert parcel.estimated_delivery == tomorrow
        assert parcel.events_seen == 2
        delivered = t0 + 1 * D + 4 * H + Q
        await sc.advance_to(delivered)
        await sc.webhook(scan("DUP1001", TrackingStatus.DELIVERED, delivered), out)
        state = await sc.finish()

    assert sc.sent()[:5] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("status_update", "sms", PHONE, out.occurred_at),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]
    assert state.delays == []
    assert state.parcels[0].events_seen == 3
    assert state.parcels[0].edd_history == [tomorrow]


# --- 12. continue-as-new --------------------------------------------------------------------------


async def test_long_tracking_continues_as_new_and_keeps_its_memory(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(tracking={"poll_every": "2h", "poll_backoff": 1.0, "poll_max_interval": "2h"})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), policy, tracking_history_limit=60)
        await sc.ship(Shipment(carrier="easypost", tracking_number="CAN1001", shipped_at=t0))
        moved = t0 + 3 * H
        sc.script(scan("CAN1001", TrackingStatus.IN_TRANSIT, moved))  # every poll returns it again
        out = moved + 4 * D + Q
        sc.script(scan("CAN1001", TrackingStatus.OUT_FOR_DELIVERY, out))  # a poll finds it first...
        await sc.advance_to(out + 3 * H)
        await sc.webhook(scan("CAN1001", TrackingStatus.OUT_FOR_DELIVERY, out))  # ...the webhook is late
        delivered = out + 5 * H
        await sc.scan_at("CAN1001", TrackingStatus.DELIVERED, delivered)
        state = await sc.finish()
        await sc.record("long_tracking_continued_as_new")
        runs = await sc.runs("shipment~acme~easypost~CAN1001")
        lengths = await sc.history_lengths()

    assert len(runs) >= 3
    # Each tracking run continues-as-new near its limit (60 here, 2,000 in production), never far past it.
    assert len(lengths["shipment~acme~easypost~CAN1001"]) == len(runs)
    assert max(lengths["shipment~acme~easypost~CAN1001"]) <= 60 + 15, lengths
    polls = sc.polls("CAN1001")
    assert len(polls) >= 45
    found = to_the_minute(min(p for p in polls if p >= out))
    assert sc.sent()[:6] == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("delay_alert", "email", EMAIL, moved + 72 * H),
        ("status_update", "sms", PHONE, found),
        ("delivered", "email", EMAIL, delivered),
        ("follow_up", "email", EMAIL, delivered + 3 * D),
    ]
    assert delays(state) == [("stalled", "CAN1001", 1, moved + 72 * H)]
    parcel = state.parcels[0]
    assert parcel.events_seen == 3
    assert [m.step.value for m in parcel.messages] == ["shipped", "delay_alert", "status_update", "delivered"]


# --- 13. nothing delivered ------------------------------------------------------------------------


async def test_returned_parcel_skips_follow_up_and_review(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        await _ship_and_move(sc, t0, "RET1001")
        await sc.scan_at("RET1001", TrackingStatus.RETURNING, t0 + 1 * D + Q)
        returned = t0 + 3 * D + Q
        await sc.scan_at("RET1001", TrackingStatus.RETURNED, returned)
        state = await sc.finish()

    assert sc.sent() == [
        ("confirmation", "email", EMAIL, t0),
        ("shipped", "email", EMAIL, t0),
        ("status_update", "sms", PHONE, t0 + 1 * D + Q),
    ]
    assert skipped(state) == [
        ("follow_up", "email", "not_applicable", returned),
        ("review_request", "email", "not_applicable", returned),
    ]
    assert [p.status for p in state.parcels] == [TrackingStatus.RETURNED]
    assert state.stage is Stage.COMPLETED
    assert state.completed_at is not None and state.completed_at < returned + 1 * H


# --- 14. polling back-off -------------------------------------------------------------------------


async def test_polls_back_off_and_a_webhook_resets_them(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(tracking={"poll_every": "1h", "poll_backoff": 2.0, "poll_max_interval": "8h"})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), policy)
        await sc.ship(Shipment(carrier="easypost", tracking_number="POLL1001", shipped_at=t0))
        await sc.advance_to(t0 + 32 * H)
        silent = list(sc.polls("POLL1001"))
        await sc.webhook(scan("POLL1001", TrackingStatus.IN_TRANSIT, t0 + 32 * H))
        await sc.advance_to(t0 + 50 * H)
        talking = sc.polls("POLL1001")[len(silent) :]
        await sc.webhook(scan("POLL1001", TrackingStatus.DELIVERED, t0 + 50 * H))
        await sc.finish()

    def hours(polls: list[datetime]) -> list[float]:
        return [round((p - t0) / H, 2) for p in polls]

    assert hours(silent) == [0, 1, 3, 7, 15, 23, 31]  # registered at once; then gaps 1, 2, 4, 8, capped at 8
    assert hours(talking) == [33, 35, 39, 47]  # the webhook at 32 started the ladder again


async def test_scans_from_before_tracking_started_are_picked_up_at_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """A shipment reported late, or webhooks that beat the tracking child: the first poll catches up."""
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), make_policy())
        sc.script(
            scan("EARLY1001", TrackingStatus.IN_TRANSIT, t0 + 1 * H),
            scan("EARLY1001", TrackingStatus.DELIVERED, t0 + 5 * H),
        )
        reported = t0 + 6 * H
        await sc.advance_to(reported)
        await sc.ship(Shipment(carrier="easypost", tracking_number="EARLY1001", shipped_at=t0))
        state = await sc.finish()
        child = await time_skipping_env.client.get_workflow_handle(
            shipment_workflow_id("acme", "easypost", "EARLY1001")
        ).describe()
        # the new paths (tenant-ids, findable-from-start, final-at-start) replay as they ran
        replayed = await replay(
            await collect(time_skipping_env.client, sc.order.workflow_id), build_replayer(CONVERTER)
        )  # type: ignore[union-attr]

    # Final at its first poll: the tracking ends there and then, not an hour later at the next poll (issue 8)
    assert child.close_time is not None and child.close_time - child.start_time < timedelta(minutes=1)
    assert len(sc.polls("EARLY1001")) == 1
    assert replayed.replay_failures == {}
    assert sc.sent()[:2] == [
        ("confirmation", "email", EMAIL, t0),
        ("delivered", "email", EMAIL, reported),  # no "shipped" for a parcel already at the door
    ]
    tracking_number, polled_at = sc.carrier.polls[0]
    assert (tracking_number, to_the_minute(polled_at)) == ("EARLY1001", reported)
    assert [p.delivered_at for p in state.parcels] == [t0 + 5 * H]


# --- 15. many merchants ---------------------------------------------------------------------------


async def test_two_merchants_track_the_same_number_each_in_its_own_child(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """`acme` and `acme-eu` ship parcels with the same carrier and number: under the legacy child id
    (`shipment-{carrier}-{number}`, no merchant) the second journey could not start its child."""
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as acme, scenario(time_skipping_env) as eu:
        await acme.start(make_order(t0), make_policy())
        await eu.start(make_order(t0, merchant_id="acme-eu"), make_policy())
        parcel = Shipment(carrier="easypost", tracking_number="SAME1001", shipped_at=t0)
        await acme.ship(parcel)
        await eu.ship(parcel)
        await acme.scan_at("SAME1001", TrackingStatus.IN_TRANSIT, t0 + 2 * H + Q)
        await eu.scan_at("SAME1001", TrackingStatus.DELIVERED, t0 + 3 * H + Q)
        eu_state = await eu.finish()
        acme_parcel = await acme.parcel("SAME1001")
        acme_state = await acme.state()

    assert acme_parcel.status is TrackingStatus.IN_TRANSIT and not acme_parcel.final
    assert acme_parcel.workflow_id == "shipment~acme~easypost~SAME1001"
    assert [(p.status, p.workflow_id) for p in eu_state.parcels] == [
        (TrackingStatus.DELIVERED, "shipment~acme-eu~easypost~SAME1001")
    ]
    assert acme_state.stage is Stage.IN_TRANSIT
    assert [p.workflow_id for p in acme_state.parcels] == ["shipment~acme~easypost~SAME1001"]


# --- tracking provider vs carrier -----------------------------------------------------------------


async def test_a_parcel_naming_only_its_carrier_is_tracked_through_the_merchants_provider(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    """The `shipment_created` path (a store's fulfillment): a UPS parcel with no provider is tracked through the
    merchant's `tracking.provider`, under a child id naming the provider, and the customer is told UPS."""
    t0 = await next_monday_10utc(time_skipping_env)
    policy = make_policy(tracking={"provider": "aftership", "poll_every": "1h", "poll_backoff": 1.0})
    async with scenario(time_skipping_env) as sc:
        await sc.start(make_order(t0), policy)
        await sc.advance_to(t0 + D)
        await sc.ship(Shipment(carrier="ups", tracking_number="1Z0000AS01", shipped_at=t0 + D))
        delivered = t0 + 2 * D + Q
        await sc.advance_to(delivered)
        await sc.webhook(scan("1Z0000AS01", TrackingStatus.DELIVERED, delivered, carrier="aftership"))
        state = await sc.finish()

    [parcel] = state.parcels
    assert (parcel.carrier, parcel.provider, parcel.status) == ("ups", "aftership", TrackingStatus.DELIVERED)
    assert parcel.workflow_id == "shipment~acme~aftership~1Z0000AS01"
    shipped = next(r for r in sc.provider.requests.values() if r.step.value == "shipped")
    assert shipped.context["shipment"]["carrier_name"] == "UPS"
    assert ("delivered", "email", EMAIL, delivered) in sc.sent()

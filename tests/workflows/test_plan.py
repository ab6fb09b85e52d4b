"""The post-delivery plan without a workflow: what gets planned when, and what pruning drops."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from domain import Actor, Order, RefundReason, ReturnLabel, Role, Step, TrackingStatus
from tests.workflows.harness import make_order, make_policy
from workflows.commands import ExchangeItem, ExchangeRecord, RefundRecord
from workflows.models import JourneyState, ParcelState
from workflows.parcels import received_items
from workflows.plan import (
    Planned,
    blocked,
    build_plan,
    is_stale,
    next_ready,
    planned_actions,
    postpone_reviews,
    prune_plan,
    stale_cutoff,
)
from workflows.timecalc import zone

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DELIVERED = T0 + timedelta(days=3)
D = timedelta(days=1)
UTC_ZONE = zone("UTC")
TWO_ITEMS = [
    {"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "20.00"},
    {"id": "li-2", "sku": "COFFEE-250", "name": "Coffee 250g", "quantity": 2, "unit_price": "17.00"},
]
COFFEE_RULE = {"skus": ["COFFEE-*"], "supply_days_per_unit": 15, "remind_before": "3d", "repeat_every": "7d"}
AGENT = Actor(name="ana", role=Role.SUPPORT)


class FakeLinks:
    """The merchant's links as a journey's messenger would fill them in."""

    def link(self, name: str, **values: str) -> str | None:
        return f"https://acme.test/{name}/{values.get('sku', '')}"

    def base_context(self) -> dict[str, Any]:
        return {"links": {"support": "https://acme.test/support"}}


def _plan(policy_sections: dict[str, Any] | None = None, received: dict[str, int] | None = None) -> list[Planned]:
    order = make_order(T0, items=TWO_ITEMS)
    policy = make_policy(**(policy_sections or {})).for_order(order)
    got = received if received is not None else {"li-1": 1, "li-2": 2}
    return build_plan(policy, UTC_ZONE, order, DELIVERED, got, FakeLinks())


def _state(order: Order, **facts: Any) -> JourneyState:
    return JourneyState(workflow_id="w", merchant_id="acme", order_id=order.order_id, policy_hash="h", **facts)


def _exchange_of_the_mug() -> ExchangeRecord:
    label = ReturnLabel(carrier="ups", tracking_number="1Z", label_url="https://l", created_at=DELIVERED)
    items = [ExchangeItem(item_id="li-1", replacement_sku="MUG-2")]
    return ExchangeRecord(exchange_id="EX1", key="k", items=items, label=label, by=AGENT, at=DELIVERED)


def _what(plan: list[Planned]) -> list[tuple[str, str, datetime]]:
    return [(p.step.value, p.key, p.due_at) for p in plan]


def test_follow_up_review_and_its_reminder_per_order() -> None:
    assert _what(_plan()) == [
        ("follow_up", "post", DELIVERED + 3 * D),
        ("review_request", "order", DELIVERED + 14 * D),
        ("review_reminder", "order", DELIVERED + 21 * D),
    ]


def test_reviews_per_item_only_for_items_received_with_their_links() -> None:
    steps = make_policy().steps.model_dump(mode="json")
    steps["review_request"] |= {"per": "item", "reminder_after": None}
    plan = _plan({"steps": steps}, received={"li-2": 2})
    assert _what(plan) == [("follow_up", "post", DELIVERED + 3 * D), ("review_request", "li-2", DELIVERED + 14 * D)]
    review = plan[1]
    assert review.item_id == "li-2"
    assert review.context["links"] == {
        "support": "https://acme.test/support",
        "review": "https://acme.test/review/COFFEE-250",
    }


def test_reorder_reminders_before_the_supply_runs_out_then_repeated() -> None:
    plan = [p for p in _plan({"reorder": [COFFEE_RULE]}) if p.step is Step.REORDER_REMINDER]
    runs_out = DELIVERED + 30 * D  # two units of 15 days
    assert _what(plan) == [
        ("reorder_reminder", "li-2-1", runs_out - 3 * D),
        ("reorder_reminder", "li-2-2", runs_out + 4 * D),
    ]
    assert plan[0].sku == "COFFEE-250"
    assert plan[0].context["links"]["reorder"] == "https://acme.test/reorder/COFFEE-250"


def test_a_review_drops_the_review_steps_silently() -> None:
    order = make_order(T0, items=TWO_ITEMS)
    state = _state(order, review_submitted=True)
    keep, dropped = prune_plan(_plan({"reorder": [COFFEE_RULE]}), order, state)
    assert [p.step for p in keep] == [Step.FOLLOW_UP, Step.REORDER_REMINDER, Step.REORDER_REMINDER]
    assert dropped == []


def test_a_reorder_drops_that_skus_reminders() -> None:
    order = make_order(T0, items=TWO_ITEMS)
    state = _state(order, reordered_skus=["COFFEE-250"])
    keep, dropped = prune_plan(_plan({"reorder": [COFFEE_RULE]}), order, state)
    assert [p.step for p in keep] == [Step.FOLLOW_UP, Step.REVIEW_REQUEST, Step.REVIEW_REMINDER]
    assert dropped == []


def test_a_refunded_item_drops_its_messages_with_the_reason() -> None:
    order = make_order(T0, items=TWO_ITEMS)
    refund = RefundRecord(
        key="k1",
        amount=Decimal("34.00"),
        currency="USD",
        reason=RefundReason.DAMAGED,
        items={"li-2": 2},
        provider="stripe",
        provider_refund_id="re_1",
        status="succeeded",
        by=AGENT,
        at=DELIVERED,
    )
    state = _state(order, refunds=[refund])
    keep, dropped = prune_plan(_plan({"reorder": [COFFEE_RULE]}), order, state)
    assert [p.step for p in keep] == [Step.FOLLOW_UP, Step.REVIEW_REQUEST, Step.REVIEW_REMINDER]
    assert [(p.key, why) for p, why in dropped] == [
        ("li-2-1", "item li-2 was refunded"),
        ("li-2-2", "item li-2 was refunded"),
    ]


def test_an_open_exchange_holds_reviews_and_its_delivery_moves_them_later() -> None:
    plan = _plan()
    exchange = _exchange_of_the_mug()
    assert [blocked(p, [exchange]) for p in plan] == [False, True, True]
    assert next_ready(plan, [exchange]) is plan[0]
    arrived = DELIVERED + 10 * D
    postpone_reviews(plan, make_policy(), UTC_ZONE, exchange, arrived)
    assert _what(plan)[1:] == [
        ("review_request", "order", arrived + 14 * D),
        ("review_reminder", "order", arrived + 21 * D),
    ]


def test_received_items_count_delivered_original_parcels_only() -> None:
    order = make_order(T0, items=TWO_ITEMS)

    def parcel(number: str, status: TrackingStatus, items: dict[str, int], exchange_id: str | None = None) -> Any:
        return ParcelState(carrier="ups", tracking_number=number, status=status, items=items, exchange_id=exchange_id)

    parcels = [
        parcel("P1", TrackingStatus.DELIVERED, {"li-2": 1}),
        parcel("P2", TrackingStatus.IN_TRANSIT, {"li-1": 1}),
        parcel("P3", TrackingStatus.DELIVERED, {"li-2": 1}),
        parcel("P4", TrackingStatus.DELIVERED, {"li-1": 1}, exchange_id="EX1"),
    ]
    assert received_items(order, parcels) == {"li-2": 2}
    assert received_items(order, [parcel("P5", TrackingStatus.DELIVERED, {})]) == {"li-1": 1, "li-2": 2}


def test_the_state_shows_the_plan_soonest_first_with_what_waits() -> None:
    plan = list(reversed(_plan()))
    exchange = _exchange_of_the_mug()
    assert [(a.what, a.due_at) for a in planned_actions(plan, [exchange])] == [
        ("follow_up", DELIVERED + 3 * D),
        ("review_request (after the exchange's replacement arrives)", DELIVERED + 14 * D),
        ("review_reminder (after the exchange's replacement arrives)", DELIVERED + 21 * D),
    ]


# --- stale: an order we hear of long after it was placed ---------------------------------------------


def test_by_default_a_message_due_more_than_a_day_before_intake_is_stale() -> None:
    intake = T0 + 20 * D
    cutoff = stale_cutoff(make_policy(), UTC_ZONE, intake)
    assert cutoff == intake - D
    assert is_stale(intake - D - timedelta(minutes=1), cutoff)
    assert not is_stale(intake - D, cutoff)
    assert not is_stale(intake - timedelta(hours=2), cutoff)  # an order placed two hours ago is confirmed
    assert not is_stale(intake + 3 * D, cutoff)  # what is still ahead goes out when due
    assert not is_stale(None, cutoff)  # no due time: sent as it comes


def test_the_policy_sets_how_old_a_message_may_be_or_turns_staleness_off() -> None:
    intake = T0 + 20 * D
    week = make_policy(defaults={"quiet_hours": {}, "stale_after": "1w"})
    assert stale_cutoff(week, UTC_ZONE, intake) == intake - 7 * D
    never = make_policy(defaults={"quiet_hours": {}, "stale_after": None})
    assert stale_cutoff(never, UTC_ZONE, intake) is None
    assert not is_stale(T0 - 365 * D, None)
    # business days count back over the weekend: Monday 09:00 less 2bd is the Thursday before
    monday = datetime(2026, 3, 23, 9, 0, tzinfo=UTC)
    two_bd = make_policy(defaults={"quiet_hours": {}, "stale_after": "2bd"})
    assert stale_cutoff(two_bd, UTC_ZONE, monday) == datetime(2026, 3, 19, 9, 0, tzinfo=UTC)


def test_a_stale_after_that_is_no_duration_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError) as err:
        make_policy(defaults={"quiet_hours": {}, "stale_after": "soon"})
    assert "stale_after" in str(err.value) and "'soon' is not a duration" in str(err.value)


def test_which_planned_messages_of_a_late_heard_order_are_stale() -> None:
    intake = DELIVERED + 16 * D  # follow-up (3d) and review request (14d) long past; the reminder (21d) ahead
    cutoff = stale_cutoff(make_policy(), UTC_ZONE, intake)
    assert [(p.step.value, is_stale(p.due_at, cutoff)) for p in _plan(received={"li-1": 1})] == [
        ("follow_up", True),
        ("review_request", True),
        ("review_reminder", False),
    ]

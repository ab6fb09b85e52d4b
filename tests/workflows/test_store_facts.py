"""What a store's facts do to a running journey, on the time-skipping server: a refund made in the store's admin,
a fulfillment it cancelled, an order it cancelled. The journey and its tracking children are the real code."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from domain import Shipment, TrackingStatus, shipment_workflow_id
from domain.stores import OrderCancelled, StoreRefund
from tests.workflows.harness import (
    Scenario,
    make_order,
    make_policy,
    next_monday_10utc,
    scan,
    scenario,
    to_the_minute,
)
from workflows.models import ConsentChanged, Stage, StopTracking
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking

D, H, Q = timedelta(days=1), timedelta(hours=1), timedelta(minutes=17)
TWO_ITEMS = [
    {"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "30.00"},
    {"id": "li-2", "sku": "TEA-1", "name": "Tea", "quantity": 1, "unit_price": "24.00"},
]
PER_ITEM = {"review_request": {"after": "14d", "reminder_after": "7d", "per": "item", "channels": ["email"]}}


def via_shopify(number: str, at: datetime, **items: int) -> Shipment:
    """A parcel Shopify fulfilled with UPS, tracked through Shopify's own shipment statuses."""
    return Shipment(carrier="ups", provider="shopify", tracking_number=number, items=items, shipped_at=at)


async def deliver_via_shopify(sc: Scenario, t0: datetime, number: str) -> datetime:
    await sc.ship(via_shopify(number, t0))
    await sc.advance_to(t0 + 2 * H + Q)
    await sc.webhook(scan(number, TrackingStatus.IN_TRANSIT, t0 + 2 * H + Q, carrier="shopify"))
    await sc.advance_to(t0 + D + Q)
    await sc.webhook(scan(number, TrackingStatus.DELIVERED, t0 + D + Q, carrier="shopify"))
    return t0 + D + Q


async def test_a_store_refund_drops_the_refunded_items_review_and_moves_no_money(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        order = make_order(t0, items=TWO_ITEMS)
        await sc.start(order, make_policy(steps=PER_ITEM))
        delivered = await deliver_via_shopify(sc, t0, "SHOPIFY0001")
        await sc.advance_to(delivered + 2 * D)
        mug = StoreRefund(
            order_id=order.order_id, refund_id="r-1", items={"li-1": 1}, amount=Decimal("30.00"), currency="USD"
        )
        shipping = StoreRefund(order_id=order.order_id, refund_id="r-2", amount=Decimal("5.00"), currency="USD")
        for fact in (mug, shipping, mug):  # the mug's refund twice: Shopify retried it
            await sc.signal(order.workflow_id, "store_refunded", fact)
        state = await sc.finish()
        await sc.record("store_refund")

    reviews = sorted(
        (r.context["item"]["id"], to_the_minute(r.requested_at)) for r in sc.provider.of_step("review_request")
    )
    assert reviews == [("li-2", delivered + 14 * D)]  # the tea only; the shipping refund took no item
    skipped = [
        (m.step.value, m.skip_reason.value if m.skip_reason else None, m.detail)
        for m in state.messages
        if m.status.value == "skipped"
    ]
    assert ("review_request", "not_applicable", "item li-1 was refunded") in skipped
    assert [(r.key, r.provider, r.items, r.amount, r.status) for r in state.refunds] == [
        ("store-refund-r-1", "store", {"li-1": 1}, Decimal("30.00"), "succeeded"),
        ("store-refund-r-2", "store", {}, Decimal("5.00"), "succeeded"),
    ]
    assert state.refunded_total == Decimal("35.00")  # support can refund only what is left
    assert state.stage is Stage.COMPLETED


async def test_a_cancelled_fulfillment_stops_its_tracking_and_the_journey_waits_for_the_next(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        order = make_order(t0, items=TWO_ITEMS)
        await sc.start(order, make_policy())
        await sc.ship(via_shopify("SHOPIFY0002", t0))
        await sc.advance_to(t0 + 3 * H)
        child = shipment_workflow_id(order.merchant_id, "shopify", "SHOPIFY0002")
        await sc.signal(child, "stop_tracking", StopTracking(reason="fulfillment 1 cancelled in the store"))
        stopped = await time_skipping_env.client.get_workflow_handle_for(ShipmentTracking.run, child).result()
        await sc.advance_to(t0 + 4 * H)
        waiting = await sc.state()
        delivered = await deliver_via_shopify(sc, t0 + 5 * H, "SHOPIFY0003")  # Shopify fulfils again
        state = await sc.finish()
        await sc.record("store_fulfillment_cancelled")

    assert stopped.status is TrackingStatus.CANCELLED and stopped.withdrawn is True
    assert waiting.stage is not Stage.COMPLETED and waiting.completed_at is None  # its items did not ship
    assert [(p.tracking_number, p.status) for p in state.parcels] == [
        ("SHOPIFY0002", TrackingStatus.CANCELLED),
        ("SHOPIFY0003", TrackingStatus.DELIVERED),
    ]
    assert ("delivered", "email") in [(s.step, s.channel) for s in sc.provider.sent()]
    assert any(to_the_minute(s.at) == delivered for s in sc.provider.sent() if s.step == "delivered")
    assert state.stage is Stage.COMPLETED


async def test_a_store_cancellation_ends_the_journey_without_a_refund(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        order = make_order(t0, items=TWO_ITEMS)
        await sc.start(order, make_policy())
        await sc.advance_to(t0 + 2 * H)
        for _ in range(2):  # Shopify's retry changes nothing
            await sc.signal(
                order.workflow_id, "store_cancelled", OrderCancelled(order_id=order.order_id, reason="customer")
            )
        state = await sc.finish()
        await sc.record("store_cancelled")

    assert state.stage is Stage.CANCELLED and state.cancel_reason == "cancelled in the store (customer)"
    assert state.refunds == []
    assert [(s.step, s.channel) for s in sc.provider.sent()].count(("cancelled", "email")) == 1


async def test_consent_withdrawn_in_the_store_skips_later_marketing(time_skipping_env: WorkflowEnvironment) -> None:
    t0 = await next_monday_10utc(time_skipping_env)
    async with scenario(time_skipping_env) as sc:
        order = make_order(t0, items=TWO_ITEMS)
        await sc.start(order, make_policy())
        delivered = await deliver_via_shopify(sc, t0, "SHOPIFY0004")
        await sc.advance_to(delivered + H)
        withdrawn = ConsentChanged(marketing_consent=False, at=delivered + H)
        late_old = ConsentChanged(marketing_consent=True, at=delivered)  # an older update, delivered after
        await sc.signal(order.workflow_id, "store_consent_changed", withdrawn)
        await sc.signal(order.workflow_id, "store_consent_changed", late_old)
        state = await sc.finish()

    sent = [s.step for s in sc.provider.sent()]
    assert "delivered" in sent and "review_request" not in sent  # a marketing step; delivered is not
    skipped = {(m.step.value, m.skip_reason.value if m.skip_reason else None) for m in state.messages}
    assert ("review_request", "opted_out") in skipped


def test_the_signals_are_the_journeys_and_the_childs() -> None:
    """The API reaches them by method, as every signal."""
    assert callable(OrderJourney.store_refunded) and callable(OrderJourney.store_cancelled)
    assert callable(ShipmentTracking.stop_tracking)

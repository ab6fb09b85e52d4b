"""What an order's parcels say, without a workflow: shipped in full or not, and the stage that follows."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import TrackingStatus
from tests.workflows.harness import make_order
from workflows.models import ParcelState, Stage
from workflows.parcels import fully_shipped, originals, shipping_stage

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
TWO_ITEMS = [
    {"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "20.00"},
    {"id": "li-2", "sku": "COFFEE-250", "name": "Coffee 250g", "quantity": 2, "unit_price": "17.00"},
]


def parcel(number: str, status: TrackingStatus, items: dict[str, int], exchange_id: str | None = None) -> ParcelState:
    return ParcelState(carrier="ups", tracking_number=number, status=status, items=items, exchange_id=exchange_id)


def test_shipped_in_full_counts_units_of_the_orders_own_parcels() -> None:
    order = make_order(T0, items=TWO_ITEMS)
    first = parcel("P1", TrackingStatus.IN_TRANSIT, {"li-1": 1, "li-2": 1})
    assert not fully_shipped(order, [])
    assert not fully_shipped(order, [first])
    assert not fully_shipped(order, [first, parcel("R1", TrackingStatus.DELIVERED, {"li-2": 1}, exchange_id="EX1")])
    assert fully_shipped(order, [first, parcel("P2", TrackingStatus.PENDING, {"li-2": 1})])
    assert fully_shipped(order, [parcel("P3", TrackingStatus.PENDING, {})])  # no item list: it carries all
    assert [p.tracking_number for p in originals([first, parcel("R1", TrackingStatus.PENDING, {}, "EX1")])] == ["P1"]


def test_the_stage_follows_the_parcels_until_after_delivery() -> None:
    order = make_order(T0, items=TWO_ITEMS)
    first = parcel("P1", TrackingStatus.DELIVERED, {"li-1": 1, "li-2": 1})
    second = parcel("P2", TrackingStatus.IN_TRANSIT, {"li-2": 1})
    waiting = Stage.AWAITING_FULFILLMENT
    assert shipping_stage(order, [], waiting) is waiting
    assert shipping_stage(order, [first], waiting) is Stage.PARTIALLY_SHIPPED
    assert shipping_stage(order, [first, second], waiting) is Stage.IN_TRANSIT
    delivered = second.model_copy(update={"status": TrackingStatus.DELIVERED})
    assert shipping_stage(order, [first, delivered], Stage.IN_TRANSIT) is Stage.DELIVERED
    for past in (Stage.POST_DELIVERY, Stage.COMPLETED, Stage.CANCELLED):
        assert shipping_stage(order, [first, second], past) is past

"""What an order's parcels say, pure: its own parcels, whether all of it shipped, what the customer received,
and the stage that puts the journey in."""

from __future__ import annotations

from collections.abc import Iterable

from domain import Order, TrackingStatus
from workflows.models import ParcelState, Stage


def originals(parcels: Iterable[ParcelState]) -> list[ParcelState]:
    """The order's own parcels, not exchanges' replacements."""
    return [p for p in parcels if p.exchange_id is None]


def fully_shipped(order: Order, parcels: Iterable[ParcelState]) -> bool:
    """Every unit of every line item is in some parcel (a parcel without item list carries all); a parcel whose
    fulfillment the store cancelled carries nothing."""
    own = [p for p in originals(parcels) if not p.withdrawn]
    if any(not p.items for p in own):
        return True
    shipped: dict[str, int] = {}
    for p in own:
        for item_id, qty in p.items.items():
            shipped[item_id] = shipped.get(item_id, 0) + qty
    return bool(own) and all(shipped.get(i.id, 0) >= i.quantity for i in order.items)


def received_items(order: Order, parcels: Iterable[ParcelState]) -> dict[str, int]:
    """Line items (id -> quantity) the customer actually received, from the order's own parcels."""
    received: dict[str, int] = {}
    for p in originals(parcels):
        if p.status is not TrackingStatus.DELIVERED:
            continue
        items = p.items or {i.id: i.quantity for i in order.items}
        for item_id, qty in items.items():
            received[item_id] = received.get(item_id, 0) + qty
    return received


def shipping_stage(order: Order, parcels: Iterable[ParcelState], stage: Stage) -> Stage:
    """The stage the parcels put the journey in while they travel; past that (or before any) it stays."""
    parcels = list(parcels)
    own = originals(parcels)
    if not own or stage in (Stage.POST_DELIVERY, Stage.COMPLETED, Stage.CANCELLED):
        return stage
    if not fully_shipped(order, parcels):
        return Stage.PARTIALLY_SHIPPED
    if all(p.status is TrackingStatus.DELIVERED for p in own):
        return Stage.DELIVERED
    return Stage.IN_TRANSIT

"""What each store event does to a journey, the same for every store platform (`domain.stores` events).

- a placed order (or an update of one we do not know) starts its journey exactly as `POST /v1/orders` does;
- an update of a known order passes the customer's marketing consent on to the journey (contact details stay
  as the order had them); one older than the newest we hold changes nothing;
- a payment is recorded;
- a fulfillment with a tracking number starts tracking that parcel (only the items it holds) with the carrier the
  store names, through the merchant's tracking provider or else the store itself; without a number it is
  recorded, not tracked; the store's own shipment status reaches the parcel's tracking as a scan when the
  parcel is tracked through the store; a cancelled fulfillment stops its parcel's tracking;
- a refund made in the store reaches the journey as a fact (no money moves);
- a cancellation ends the journey as support's cancel does, without a second refund.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from api.routes.orders import add_shipment, check_received, intake_order
from api.services import Services
from api.updates import OrderRef
from domain import TrackingEvent, TrackingStatus, shipment_workflow_id
from domain.stores import (
    FulfillmentChanged,
    FulfillmentStatus,
    OrderCancelled,
    OrderPaid,
    OrderPlaced,
    OrderUpdated,
    StoreEvent,
    StoreRefund,
)
from policies.loader import LoadedPolicy
from storage import ShipmentConflictError
from workflows.models import ConsentChanged, StopTracking
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking

STORE_PROVIDERS = frozenset({"shopify"})
"""Tracking providers that are a store itself: its own shipment statuses are the parcel's scans."""
SIGNAL_ATTEMPTS = 6  # a parcel's tracking child starts a moment after its journey hears of it
SIGNAL_PAUSE = 0.5


@dataclass
class Acted:
    """What a delivery did, in a few words (kept with the delivery, answered to the store)."""

    outcome: str
    order_id: str | None = None
    order_updated_at: datetime | None = None


async def act_on(svc: Services, loaded: LoadedPolicy, event: StoreEvent, raw: dict[str, Any]) -> Acted:
    """Do what `event` means; `raw` is the store's own body, kept with a new order as its payload."""
    merchant_id = loaded.merchant_id
    if isinstance(event, OrderPlaced | OrderUpdated):
        return await _order(svc, loaded, event, raw)
    ref = await _known_order(svc, merchant_id, event.order_id)
    if isinstance(event, OrderPaid):
        return Acted("recorded: paid" if ref else "recorded: paid, order not known", event.order_id)
    if ref is None:  # a fact about an order whose orders/create has not come yet: the store retries
        raise ApiError(
            409, "order_not_known_yet", f"order {event.order_id!r} has not been received yet; retry after it is"
        )
    if isinstance(event, OrderCancelled):
        return Acted(await _signal(svc, ref, OrderJourney.store_cancelled, event, "cancelled"), event.order_id)
    if isinstance(event, StoreRefund):
        order = await run_in_threadpool(svc.store.get_order, merchant_id, event.order_id)
        assert order is not None
        fact = event.model_copy(update={"currency": order.currency})  # the journey's order is authoritative
        done = await _signal(svc, ref, OrderJourney.store_refunded, fact, "refund recorded")
        return Acted(f"{done} ({', '.join(sorted(fact.items)) or 'no items'})", event.order_id)
    return await _fulfillment(svc, loaded, ref, event)


async def _order(svc: Services, loaded: LoadedPolicy, event: OrderPlaced | OrderUpdated, raw: dict[str, Any]) -> Acted:
    order = event.order
    held = await run_in_threadpool(svc.store.get_order, order.merchant_id, order.order_id)
    if isinstance(event, OrderUpdated) and held is not None:
        latest = await run_in_threadpool(svc.store.latest_order_update, order.merchant_id, order.order_id)
        if latest is not None and event.updated_at is not None and event.updated_at <= latest:
            return Acted("unchanged: an older update than the one held", order.order_id)
        ref = await _known_order(svc, order.merchant_id, order.order_id)
        assert ref is not None
        change = ConsentChanged(marketing_consent=order.customer.marketing_consent, at=event.updated_at)
        done = await _signal(svc, ref, OrderJourney.store_consent_changed, change, "consent passed on")
        return Acted(f"recorded: update; {done}", order.order_id, event.updated_at)
    if held is None:
        check_received(order)
    # Known already: intake again all the same (it changes nothing), so an order stored while Temporal was down
    # gets its journey when the store retries, as a repeated `POST /v1/orders` does.
    accepted = await intake_order(svc, held or order, raw, loaded)
    outcome = "journey started" if accepted.created else "unchanged: the order is known"
    return Acted(outcome, order.order_id, event.updated_at)


async def _fulfillment(svc: Services, loaded: LoadedPolicy, ref: OrderRef, event: FulfillmentChanged) -> Acted:
    shipment = event.shipment
    if shipment is None:
        return Acted(f"recorded: fulfillment {event.fulfillment_id} has no tracking number, not tracked", ref.order_id)
    tracking = loaded.policy.tracking
    # the merchant's tracking provider if its policy names one; else the store itself tracks the parcel
    provider = tracking.provider if "provider" in tracking.model_fields_set else shipment.provider
    shipment = shipment.model_copy(update={"provider": provider})
    child_id = shipment_workflow_id(ref.merchant_id, shipment.tracked_via, shipment.tracking_number)
    if event.status is FulfillmentStatus.CANCELLED:
        stop = StopTracking(reason=f"fulfillment {event.fulfillment_id} cancelled in the store")
        stopped = await _signal_child(svc, child_id, ShipmentTracking.stop_tracking, stop, wait=False)
        return Acted("tracking stopped" if stopped else "recorded: cancelled, not tracked", ref.order_id)
    order = await run_in_threadpool(svc.store.get_order, ref.merchant_id, ref.order_id)
    assert order is not None
    lines = {i.id for i in order.items}
    shipment = shipment.model_copy(update={"items": {i: q for i, q in shipment.items.items() if i in lines}})
    try:
        created = await add_shipment(svc, ref, shipment)
    except ShipmentConflictError as err:
        raise ApiError(409, "shipment_conflict", str(err)) from err
    except ApiError as err:
        if err.code != "journey_finished":
            raise
        return Acted(f"recorded: parcel {shipment.tracking_number}, but the journey has ended", ref.order_id)
    outcome = f"tracking {shipment.tracking_number}" if created else f"parcel {shipment.tracking_number} known"
    status = event.shipment_status
    if status is None or status is TrackingStatus.UNKNOWN or shipment.tracked_via not in STORE_PROVIDERS:
        return Acted(outcome, ref.order_id)
    scan = TrackingEvent(
        event_id=f"{shipment.tracked_via}-{event.fulfillment_id}-{status.value}",
        carrier=shipment.tracked_via,
        tracking_number=shipment.tracking_number,
        status=status,
        occurred_at=event.updated_at or datetime.now(UTC),
        description=f"{status.value.replace('_', ' ')} (from the store)",
    )
    if not await _signal_child(svc, child_id, ShipmentTracking.tracking_update, [scan], wait=True):
        if created:  # announced a moment ago and not running yet: the store retries, and finds it then
            raise ApiError(
                503, "tracking_not_started", f"the tracking of {shipment.tracking_number} has not started yet"
            )
        return Acted(f"{outcome}; {status.value} recorded, its tracking has ended", ref.order_id)
    return Acted(f"{outcome}; {status.value}", ref.order_id)


async def _known_order(svc: Services, merchant_id: str, order_id: str) -> OrderRef | None:
    workflow_id = await run_in_threadpool(svc.store.journey_workflow_id, merchant_id, order_id)
    return OrderRef(merchant_id, order_id, workflow_id) if workflow_id else None


async def _signal(svc: Services, ref: OrderRef, signal: Callable[..., Any], payload: BaseModel, done: str) -> str:
    """Tell the journey a fact; one that has ended keeps the fact in the delivery record only."""
    try:
        await svc.temporal.get_workflow_handle(ref.workflow_id).signal(signal, payload)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return f"recorded: {done}, but the journey has ended"
        raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err
    return done


async def _signal_child(
    svc: Services, workflow_id: str, signal: Callable[..., Any], payload: object, *, wait: bool
) -> bool:
    """Signal a parcel's tracking child; False if it is not running. With `wait`, give a child that its journey
    is starting right now a moment (its parcel was just announced)."""
    for attempt in range(SIGNAL_ATTEMPTS if wait else 1):
        try:
            await svc.temporal.get_workflow_handle(workflow_id).signal(signal, payload)
            return True
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err
        if attempt + 1 < SIGNAL_ATTEMPTS and wait:
            await asyncio.sleep(SIGNAL_PAUSE)
    return False

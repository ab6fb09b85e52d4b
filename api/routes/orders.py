"""Orders: the store's intake (`POST /v1/orders`), an order's journey state, its shipments, and the store's
facts about it (a review written, a reorder).

Every handler validates first and writes second, so a refused request changes nothing; a request the store
may repeat (a retry, a duplicate) answers 200 and changes nothing. The store's intake and facts need a
merchant (or admin) token, reading an order any staff token.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import check_merchant
from api.deps import Intake, ServicesDep, Staff
from api.errors import ApiError
from api.journey_state import read_journey_state, without_addresses
from api.services import Services
from api.updates import OrderRef, resolve_order
from domain import Order, Role, Shipment
from domain.carriers import TRACKING_PROVIDERS, carrier_slug
from policies.loader import LoadedPolicy
from policies.schema import Tracking
from storage.repository import ShipmentConflictError
from workflows.models import JourneyInput, JourneyState, Reordered, ReviewSubmitted
from workflows.order_journey import OrderJourney

log = logging.getLogger("aftercare.api")

ORDERS_RECEIVED = Counter("aftercare_orders_received_total", "Orders accepted by the API", ["merchant", "outcome"])

OrderMerchant = Annotated[str | None, Query()]

router = APIRouter(prefix="/v1/orders", tags=["orders"])


class OrderAccepted(BaseModel):
    merchant_id: str
    order_id: str
    workflow_id: str
    created: bool
    policy_hash: str
    variants: list[str]


class ShipmentRequest(Shipment):
    """A parcel as a store sends it: `carrier` as the store names it ("UPS", "Royal Mail", or a provider's name
    in the older form `carrier: easypost`), `provider` optional (the merchant's `tracking.provider` if not given)."""

    carrier: str = Field(  # free text here; a slug once normalised
        min_length=1, max_length=64, description="the carrier moving the parcel as the store names it (UPS, DHL...)"
    )


class ShipmentAccepted(BaseModel):
    workflow_id: str
    tracking_workflow_id: str
    created: bool


@router.post("", status_code=201, response_model=OrderAccepted)
async def create_order(
    order: Order, request: Request, response: Response, svc: ServicesDep, actor: Intake
) -> OrderAccepted:
    """Start the order's journey. The same order again returns the same journey (200) and changes nothing."""
    check_merchant(actor, order.merchant_id)
    check_received(order)
    loaded = svc.policies.get(order.merchant_id)
    if loaded is None:
        # Staff may learn which merchants exist; a merchant token only that its own has no policy.
        known = f"; known merchants: {', '.join(sorted(svc.policies)) or 'none'}" if actor.role is Role.ADMIN else ""
        raise ApiError(
            422,
            "unknown_merchant",
            f"merchant_id {order.merchant_id!r} has no policy (add policies/bundled/<merchant>.yaml){known}",
        )
    accepted = await intake_order(svc, order, await request.json(), loaded)
    if not accepted.created:
        response.status_code = 200
    return accepted


def check_received(order: Order) -> None:
    """Intake's checks of what changes with time (`Order.check_received`) as a 422 naming each field."""
    if problems := order.check_received(datetime.now(UTC)):
        raise ApiError(
            422,
            "invalid_request",
            "; ".join(f"{path}: {message}" for path, message in problems.items()),
            problems=[{"path": path, "message": message} for path, message in problems.items()],
        )


async def intake_order(svc: Services, order: Order, raw: dict[str, Any], loaded: LoadedPolicy) -> OrderAccepted:
    """Store the order with the payload it came in and start its journey: what `POST /v1/orders` and the store
    webhooks (`api/routes/stores.py`) both do with a new order. The same order again changes nothing and finds
    the journey it has (`created` false)."""
    created = await run_in_threadpool(svc.store.record_order, order, raw)
    # A repeat of an order taken before journey ids changed finds the journey it already has.
    workflow_id = await run_in_threadpool(svc.store.journey_workflow_id, order.merchant_id, order.order_id)
    assert workflow_id is not None
    try:
        await svc.temporal.start_workflow(
            OrderJourney.run,
            JourneyInput(order=order, policy=loaded.policy, policy_hash=loaded.hash),
            id=workflow_id,
            task_queue=svc.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        pass  # finished earlier: the order already had its journey
    except RPCError as err:  # stored, not started: a retry of this request completes it
        raise ApiError(503, "temporal_unavailable", f"order stored; journey not started yet: {err.message}") from err
    if created:
        await notify_reorder(svc, order)
    ORDERS_RECEIVED.labels(order.merchant_id, "created" if created else "duplicate").inc()
    return OrderAccepted(
        merchant_id=order.merchant_id,
        order_id=order.order_id,
        workflow_id=workflow_id,
        created=created,
        policy_hash=loaded.hash,
        variants=loaded.policy.matching_variants(order),
    )


async def notify_reorder(svc: Services, order: Order) -> None:
    """A new order of the same SKU by the same customer makes earlier reorder reminders moot."""
    skus = sorted({i.sku for i in order.items})
    earlier = await run_in_threadpool(
        svc.store.customer_orders_with_skus, order.merchant_id, order.customer.id, skus, order.order_id
    )
    for found in earlier:
        try:
            await svc.temporal.get_workflow_handle(found.workflow_id).signal(
                OrderJourney.reordered, Reordered(skus=found.skus, new_order_id=order.order_id)
            )
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                log.warning("could not tell %s about reorder: %s", found.order_id, err.message)


@router.get("/{order_id}", response_model=JourneyState)
async def order_state(order_id: str, svc: ServicesDep, actor: Staff, merchant_id: OrderMerchant = None) -> JourneyState:
    """The journey's whole state: parcels, messages sent or skipped with reasons, what is planned next."""
    ref = await resolve_order(svc, order_id, merchant_id, actor)
    oid = ref.order_id
    try:
        state = await read_journey_state(svc.temporal, ref.workflow_id)
    except WorkflowQueryFailedError as err:
        raise ApiError(500, "state_unavailable", f"the journey of {oid!r} could not answer: {err}") from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "no_journey", f"order {oid!r} is stored but has no journey yet") from err
        raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err
    if await run_in_threadpool(svc.store.order_erased, ref.merchant_id, oid):
        return without_addresses(state)
    return state


@router.post("/{order_id}/shipments", status_code=201, response_model=ShipmentAccepted)
async def create_shipment(
    order_id: str,
    request: ShipmentRequest,
    response: Response,
    svc: ServicesDep,
    actor: Intake,
    merchant_id: OrderMerchant = None,
) -> ShipmentAccepted:
    """A parcel left the warehouse: track it. The same parcel again changes nothing (200).

    The parcel is tracked through its `provider`, else the merchant's `tracking.provider`; its carrier is kept as
    our slug (`UPS` -> `ups`) for what the customer is told. An exchange's replacement names its exchange
    (`exchange_id`, from the exchange's result)."""
    ref = await resolve_order(svc, order_id, merchant_id, actor)
    order = await run_in_threadpool(svc.store.get_order, ref.merchant_id, ref.order_id)
    assert order is not None
    shipment = with_provider(svc, order, request)
    created = await add_shipment(svc, ref, shipment)
    if not created:
        response.status_code = 200
    return ShipmentAccepted(
        workflow_id=ref.workflow_id,
        tracking_workflow_id=shipment.workflow_id(ref.merchant_id),
        created=created,
    )


async def add_shipment(svc: Services, ref: OrderRef, shipment: Shipment) -> bool:
    """Check a parcel against its order, store it and tell the journey to track it; True if it was new. What
    `POST /v1/orders/{id}/shipments` and a store's fulfillment webhook both do."""
    merchant, oid = ref.merchant_id, ref.order_id
    order = await run_in_threadpool(svc.store.get_order, merchant, oid)
    assert order is not None
    if shipment.tracked_via not in svc.carriers:  # its tracking could never poll: refuse, do not store
        what = f"provider {shipment.provider!r}" if shipment.provider else f"carrier {shipment.carrier!r}"
        raise ApiError(
            422,
            "unknown_carrier",
            f"{what} is not one we can track through; valid: {', '.join(sorted(svc.carriers))}",
        )
    if shipment.exchange_id is not None:
        await check_exchange(svc, ref, shipment.exchange_id)
    held = {i.id: i.quantity for i in order.items}
    unknown = sorted(set(shipment.items) - set(held))
    if unknown:
        raise ApiError(
            422,
            "unknown_items",
            f"items {', '.join(unknown)} are not line items of order {oid!r}; valid: {', '.join(held)}",
        )
    too_many = [f"{i} ({q} of {held[i]})" for i, q in shipment.items.items() if q > held[i]]
    if too_many:
        raise ApiError(
            422,
            "invalid_quantity",
            f"items: {', '.join(too_many)} is more than the order's line holds; each quantity is 1 to the "
            f"line's quantity",
        )
    try:
        created = await run_in_threadpool(svc.store.record_shipment, merchant, oid, shipment)
    except ShipmentConflictError as err:  # another order of this merchant has the number; never another merchant's
        raise ApiError(409, "shipment_conflict", str(err)) from err
    await signal_journey(svc, ref, OrderJourney.shipment_created, shipment)
    return created


def with_provider(svc: Services, order: Order, request: ShipmentRequest) -> Shipment:
    """The parcel as we track it: its provider named (the merchant's by default) and its carrier as our slug; the
    older form (`carrier: easypost`, no provider) stays exactly as it was. A carrier that leaves no slug is a 422."""
    fields = request.model_dump()
    if request.provider is None and (request.carrier in svc.carriers or request.carrier in TRACKING_PROVIDERS):
        fields["carrier"] = request.carrier
    else:
        loaded = svc.policies.get(order.merchant_id)
        default = (loaded.policy.for_order(order).tracking if loaded else Tracking()).provider
        fields["carrier"], fields["provider"] = carrier_slug(request.carrier), request.provider or default
    try:
        return Shipment.model_validate(fields)
    except ValidationError as err:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors())
        raise ApiError(
            422, "invalid_request", f"carrier {request.carrier!r} gives no usable carrier: {problem}"
        ) from err


async def check_exchange(svc: Services, ref: OrderRef, exchange_id: str) -> None:
    """A replacement parcel must name one of the order's exchanges."""
    oid = ref.order_id
    try:
        state = await read_journey_state(svc.temporal, ref.workflow_id)
    except RPCError as err:
        raise ApiError(409, "journey_finished", f"the journey of order {oid!r} has ended") from err
    known = [e.exchange_id for e in state.exchanges]
    if exchange_id not in known:
        raise ApiError(
            422,
            "unknown_exchange",
            f"order {oid!r} has no exchange {exchange_id!r}; its exchanges: {', '.join(known) or 'none'}",
        )


async def signal_journey(svc: Services, order: OrderRef, signal: Callable[..., Any], payload: BaseModel) -> None:
    """Tell the order's journey a fact; a journey that has ended answers 409."""
    try:
        await svc.temporal.get_workflow_handle(order.workflow_id).signal(signal, payload)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ApiError(
                409, "journey_finished", f"the journey of order {order.order_id!r} has ended; nothing to change"
            ) from err
        raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err


async def _fact_about(order_id: str, svc: ServicesDep, actor: Intake, merchant_id: OrderMerchant = None) -> OrderRef:
    """The order a store's fact is about: a fact from the store, so it needs the merchant's token."""
    return await resolve_order(svc, order_id, merchant_id, actor)


FactAbout = Annotated[OrderRef, Depends(_fact_about)]
ReviewBody = Annotated[ReviewSubmitted, Body()]
ReorderBody = Annotated[Reordered, Body()]
Accepted = dict[str, str]


@router.post("/{order_id}/signals/review-submitted", status_code=202)
async def review_submitted(ref: FactAbout, svc: ServicesDep, review: ReviewBody = ReviewSubmitted()) -> Accepted:  # noqa: B008
    """The store says the customer reviewed (the whole order, or these items): no review request or
    reminder for them."""
    order = await run_in_threadpool(svc.store.get_order, ref.merchant_id, ref.order_id)
    assert order is not None
    unknown = sorted(set(review.item_ids) - {i.id for i in order.items})
    if unknown:
        raise ApiError(
            422, "unknown_items", f"item_ids {', '.join(unknown)} are not line items of order {ref.order_id!r}"
        )
    await signal_journey(svc, ref, OrderJourney.review_submitted, review)
    return {"status": "accepted", "workflow_id": ref.workflow_id}


@router.post("/{order_id}/signals/reordered", status_code=202)
async def reordered(ref: FactAbout, svc: ServicesDep, reorder: ReorderBody = Reordered()) -> Accepted:  # noqa: B008
    """The store says the customer bought these SKUs again: their reorder reminders are moot."""
    if reorder.new_order_id is not None and reorder.new_order_id != ref.order_id:
        new = await run_in_threadpool(svc.store.get_order, ref.merchant_id, reorder.new_order_id)
        if new is None:
            raise ApiError(
                422, "unknown_order", f"new_order_id {reorder.new_order_id!r} is not an order of this merchant"
            )
    await signal_journey(svc, ref, OrderJourney.reordered, reorder)
    return {"status": "accepted", "workflow_id": ref.workflow_id}

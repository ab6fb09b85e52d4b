"""The HTTP front door: order and shipment intake, carrier webhooks, journey state, customer signals, and
(through its routers) support's actions and the support console.

Every handler validates first and writes second, so a refused request changes nothing; every write the
outside world may repeat (a duplicate webhook, a client retry) is idempotent. Who may call what: the store's
intake needs a merchant (or admin) token, reading an order any staff token; carrier webhooks prove themselves
by signature, and the store's facts about an order (a review written, a reorder) need the merchant's token.
Nothing here lets an anonymous caller change a journey.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel
from temporalio.client import WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api import codec_routes, console, finding, history_routes, policy_routes, support_routes
from api.actions import OrderRef
from api.actions import resolve_order as _resolve_order
from api.auth import check_merchant, require
from api.docs_routes import install_docs
from api.errors import ApiError, install
from api.headers import SecurityHeaders
from api.journey_state import read_journey_state
from api.limits import DEFAULT_MAX_BODY_BYTES, BodyLimits
from api.senders import SenderMiddleware
from api.services import Services
from connectors.carriers.base import WebhookError
from domain import Actor, Order, Role, Shipment, TrackingEvent, shipment_workflow_ids
from storage.repository import ShipmentConflictError
from workflows.models import JourneyInput, JourneyState, Reordered, ReviewSubmitted
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking

log = logging.getLogger("aftercare.api")

ORDERS_RECEIVED = Counter("aftercare_orders_received_total", "Orders accepted by the API", ["merchant", "outcome"])
WEBHOOK_EVENTS = Counter("aftercare_carrier_events_total", "Carrier webhook events", ["carrier", "outcome"])


class OrderAccepted(BaseModel):
    merchant_id: str
    order_id: str
    workflow_id: str
    created: bool
    policy_hash: str
    variants: list[str]


class ShipmentAccepted(BaseModel):
    workflow_id: str
    tracking_workflow_id: str
    created: bool


class EventsAccepted(BaseModel):
    carrier: str
    events: int
    matched: list[str]
    unmatched: list[str]


def create_app(
    services: Services | None = None, lifespan: Any = None, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
) -> FastAPI:
    """The app; `services` now (tests) or from a `lifespan` that sets `app.state.services` (production).
    Request bodies are bounded by api/limits.py (`max_body_bytes`: settings' AFTERCARE_MAX_BODY_BYTES)."""
    app = FastAPI(
        title="Aftercare",
        version="0.1.0",
        description="Post-purchase journeys: order intake, shipment tracking, carrier webhooks, journey state.",
        lifespan=lifespan,
        docs_url=None,  # served from our own files by api.docs_routes: the CDN one leaves /docs blank offline
        redoc_url=None,  # ReDoc fetches from its CDN whatever we do; /docs shows the same
    )
    install_docs(app)
    if services is not None:
        app.state.services = services
    install(app)

    def svc() -> Services:
        return app.state.services  # type: ignore[no-any-return]

    async def resolve_order(order_id: str, merchant_id: str | None, actor: Actor) -> OrderRef:
        return await _resolve_order(svc(), order_id, merchant_id, actor)

    intake = Depends(require(Role.MERCHANT, Role.ADMIN))
    staff = Depends(require(*support_routes.READERS))

    async def signal_journey(order: OrderRef, signal: Callable[..., Any], payload: BaseModel) -> None:
        try:
            await svc().temporal.get_workflow_handle(order.workflow_id).signal(signal, payload)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise ApiError(
                    409, "journey_finished", f"the journey of order {order.order_id!r} has ended; nothing to change"
                ) from err
            raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err

    @app.post("/v1/orders", status_code=201, response_model=OrderAccepted, tags=["orders"])
    async def create_order(order: Order, request: Request, response: Response, actor: Actor = intake) -> OrderAccepted:
        """Start the order's journey. The same order again returns the same journey (200) and changes nothing."""
        check_merchant(actor, order.merchant_id)
        if problems := order.check_received(datetime.now(UTC)):
            raise ApiError(
                422,
                "invalid_request",
                "; ".join(f"{path}: {message}" for path, message in problems.items()),
                problems=[{"path": path, "message": message} for path, message in problems.items()],
            )
        loaded = svc().policies.get(order.merchant_id)
        if loaded is None:
            # Staff may learn which merchants exist; a merchant token only that its own has no policy.
            known = (
                f"; known merchants: {', '.join(sorted(svc().policies)) or 'none'}" if actor.role is Role.ADMIN else ""
            )
            raise ApiError(
                422,
                "unknown_merchant",
                f"merchant_id {order.merchant_id!r} has no policy (add policies/bundled/<merchant>.yaml){known}",
            )
        raw = await request.json()
        created = await run_in_threadpool(svc().store.record_order, order, raw)
        # A repeat of an order taken before journey ids changed finds the journey it already has.
        workflow_id = await run_in_threadpool(svc().store.journey_workflow_id, order.merchant_id, order.order_id)
        assert workflow_id is not None
        try:
            await svc().temporal.start_workflow(
                OrderJourney.run,
                JourneyInput(order=order, policy=loaded.policy, policy_hash=loaded.hash),
                id=workflow_id,
                task_queue=svc().task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
        except WorkflowAlreadyStartedError:
            pass  # finished earlier: the order already had its journey
        except RPCError as err:  # stored, not started: a retry of this request completes it
            raise ApiError(
                503, "temporal_unavailable", f"order stored; journey not started yet: {err.message}"
            ) from err
        if created:
            await notify_reorder(order)
        ORDERS_RECEIVED.labels(order.merchant_id, "created" if created else "duplicate").inc()
        if not created:
            response.status_code = 200
        return OrderAccepted(
            merchant_id=order.merchant_id,
            order_id=order.order_id,
            workflow_id=workflow_id,
            created=created,
            policy_hash=loaded.hash,
            variants=loaded.policy.matching_variants(order),
        )

    async def notify_reorder(order: Order) -> None:
        """A new order of the same SKU by the same customer makes earlier reorder reminders moot."""
        skus = sorted({i.sku for i in order.items})
        earlier = await run_in_threadpool(
            svc().store.customer_orders_with_skus, order.merchant_id, order.customer.id, skus, order.order_id
        )
        for earlier_order_id, matching in earlier:
            workflow_id = await run_in_threadpool(svc().store.journey_workflow_id, order.merchant_id, earlier_order_id)
            if workflow_id is None:
                continue
            try:
                await (
                    svc()
                    .temporal.get_workflow_handle(workflow_id)
                    .signal(OrderJourney.reordered, Reordered(skus=matching, new_order_id=order.order_id))
                )
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    log.warning("could not tell %s about reorder: %s", earlier_order_id, err.message)

    @app.get("/v1/orders/{order_id}", response_model=JourneyState, tags=["orders"])
    async def order_state(
        order_id: str, merchant_id: Annotated[str | None, Query()] = None, actor: Actor = staff
    ) -> JourneyState:
        """The journey's whole state: parcels, messages sent or skipped with reasons, what is planned next."""
        ref = await resolve_order(order_id, merchant_id, actor)
        oid = ref.order_id
        try:
            return await read_journey_state(svc().temporal, ref.workflow_id)
        except WorkflowQueryFailedError as err:
            raise ApiError(500, "state_unavailable", f"the journey of {oid!r} could not answer: {err}") from err
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise ApiError(404, "no_journey", f"order {oid!r} is stored but has no journey yet") from err
            raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err

    @app.post("/v1/orders/{order_id}/shipments", status_code=201, response_model=ShipmentAccepted, tags=["orders"])
    async def create_shipment(
        order_id: str,
        shipment: Shipment,
        response: Response,
        merchant_id: Annotated[str | None, Query()] = None,
        actor: Actor = intake,
    ) -> ShipmentAccepted:
        """A parcel left the warehouse: track it. The same parcel again changes nothing (200).

        An exchange's replacement names its exchange (`exchange_id`, from the exchange's result)."""
        ref = await resolve_order(order_id, merchant_id, actor)
        merchant, oid = ref.merchant_id, ref.order_id
        order = await run_in_threadpool(svc().store.get_order, merchant, oid)
        assert order is not None
        if shipment.carrier not in svc().carriers:  # its tracking could never poll: refuse, do not store
            raise ApiError(
                422,
                "unknown_carrier",
                f"carrier {shipment.carrier!r} is not one we can track; valid: {', '.join(sorted(svc().carriers))}",
            )
        if shipment.exchange_id is not None:
            await check_exchange(ref, shipment.exchange_id)
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
            created = await run_in_threadpool(svc().store.record_shipment, merchant, oid, shipment)
        except ShipmentConflictError as err:  # another order of this merchant has the number; never another merchant's
            raise ApiError(409, "shipment_conflict", str(err)) from err
        await signal_journey(ref, OrderJourney.shipment_created, shipment)
        if not created:
            response.status_code = 200
        return ShipmentAccepted(
            workflow_id=ref.workflow_id,
            tracking_workflow_id=shipment.workflow_id(merchant),
            created=created,
        )

    async def check_exchange(ref: OrderRef, exchange_id: str) -> None:
        oid = ref.order_id
        try:
            state = await read_journey_state(svc().temporal, ref.workflow_id)
        except RPCError as err:
            raise ApiError(409, "journey_finished", f"the journey of order {oid!r} has ended") from err
        known = [e.exchange_id for e in state.exchanges]
        if exchange_id not in known:
            raise ApiError(
                422,
                "unknown_exchange",
                f"order {oid!r} has no exchange {exchange_id!r}; its exchanges: {', '.join(known) or 'none'}",
            )

    @app.post("/v1/carriers/{carrier}/events", status_code=202, response_model=EventsAccepted, tags=["carriers"])
    async def carrier_events(carrier: str, request: Request) -> EventsAccepted:
        """A carrier's webhook. Known parcels' journeys are told; unknown tracking numbers are kept for later."""
        client = svc().carriers.get(carrier)
        if client is None:
            raise ApiError(404, "unknown_carrier", f"no carrier {carrier!r}; known: {', '.join(svc().carriers)}")
        body = await request.body()
        try:
            events = client.parse_webhook(body, request.headers)
        except WebhookError as err:
            WEBHOOK_EVENTS.labels(carrier, "refused").inc()
            status = 401 if "signature" in str(err).lower() else 400
            raise ApiError(status, "bad_webhook", str(err)) from err
        # One transaction: the body once, scans of registered parcels, and (bounded, expiring) those of
        # numbers nobody registered yet, which the parcel's tracking claims when it starts.
        recorded = await run_in_threadpool(svc().store.record_carrier_push, carrier, body, events)
        matched: list[str] = []
        unmatched: list[str] = []
        for tracking_number, owners in recorded.owners.items():
            if not owners:
                unmatched.append(tracking_number)
                continue
            parcel_events = [e for e in events if e.tracking_number == tracking_number]
            for merchant_id, _order_id in owners:
                await signal_parcel(merchant_id, carrier, tracking_number, parcel_events)
            matched.append(tracking_number)
        WEBHOOK_EVENTS.labels(carrier, "accepted").inc(len(events))
        return EventsAccepted(carrier=carrier, events=len(events), matched=matched, unmatched=unmatched)

    async def signal_parcel(merchant_id: str, carrier: str, tracking_number: str, events: list[TrackingEvent]) -> None:
        """Tell one merchant's parcel about its scans: its tracking child runs under the current id, or (started
        before `tenant-ids`) the legacy one, which drops events that are not its parcel's.

        Every parsed event is sent, not only the new ones: the child drops duplicates itself, and a carrier
        retrying after our failed signal must still get its events through. No child running (not started
        yet, or finished): the events are stored and its first poll returns them.
        """
        for workflow_id in shipment_workflow_ids(merchant_id, carrier, tracking_number):
            try:
                await svc().temporal.get_workflow_handle(workflow_id).signal(ShipmentTracking.tracking_update, events)
                return
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err

    @app.post("/v1/orders/{order_id}/signals/review-submitted", status_code=202, tags=["orders"])
    async def review_submitted(
        order_id: str,
        review: Annotated[ReviewSubmitted, Body()] = ReviewSubmitted(),  # noqa: B008
        merchant_id: Annotated[str | None, Query()] = None,
        actor: Actor = intake,
    ) -> dict[str, str]:
        """The store says the customer reviewed (the whole order, or these items): no review request or
        reminder for them. A fact from the store, so it needs the merchant's token."""
        ref = await resolve_order(order_id, merchant_id, actor)
        order = await run_in_threadpool(svc().store.get_order, ref.merchant_id, ref.order_id)
        assert order is not None
        unknown = sorted(set(review.item_ids) - {i.id for i in order.items})
        if unknown:
            raise ApiError(
                422, "unknown_items", f"item_ids {', '.join(unknown)} are not line items of order {ref.order_id!r}"
            )
        await signal_journey(ref, OrderJourney.review_submitted, review)
        return {"status": "accepted", "workflow_id": ref.workflow_id}

    @app.post("/v1/orders/{order_id}/signals/reordered", status_code=202, tags=["orders"])
    async def reordered(
        order_id: str,
        reorder: Annotated[Reordered, Body()] = Reordered(),  # noqa: B008
        merchant_id: Annotated[str | None, Query()] = None,
        actor: Actor = intake,
    ) -> dict[str, str]:
        """The store says the customer bought these SKUs again: their reorder reminders are moot. A fact
        from the store, so it needs the merchant's token."""
        ref = await resolve_order(order_id, merchant_id, actor)
        if reorder.new_order_id is not None and reorder.new_order_id != ref.order_id:
            new = await run_in_threadpool(svc().store.get_order, ref.merchant_id, reorder.new_order_id)
            if new is None:
                raise ApiError(
                    422, "unknown_order", f"new_order_id {reorder.new_order_id!r} is not an order of this merchant"
                )
        await signal_journey(ref, OrderJourney.reordered, reorder)
        return {"status": "accepted", "workflow_id": ref.workflow_id}

    app.include_router(support_routes.build_router())
    app.include_router(console.build_router())
    app.include_router(codec_routes.build_router())
    app.include_router(finding.build_router())
    app.include_router(history_routes.build_router())
    app.include_router(policy_routes.build_router())
    app.middleware("http")(codec_routes.codec_cors)
    # The last added runs first: headers on every answer, then bodies bounded and callers known before
    # anything is read, then who sent the request's signals.
    app.add_middleware(SenderMiddleware)  # who each request's signals are from (api.senders)
    app.add_middleware(BodyLimits, max_body_bytes=max_body_bytes)
    app.add_middleware(SecurityHeaders)

    @app.get("/healthz", tags=["ops"])
    async def healthz(response: Response) -> dict[str, str]:
        """Database and Temporal reachable: 200; otherwise 503 naming what is down."""
        checks: dict[str, str] = {}
        try:
            await run_in_threadpool(svc().store.ping)
            checks["database"] = "ok"
        except Exception as err:
            checks["database"] = f"down: {err}"
        try:
            await svc().temporal.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as err:
            checks["temporal"] = f"down: {err}"
        healthy = all(v == "ok" for v in checks.values())
        response.status_code = 200 if healthy else 503
        return {"status": "ok" if healthy else "degraded", **checks}

    @app.get("/metrics", tags=["ops"], include_in_schema=False)
    async def metrics(_: Actor = Depends(require(Role.ENGINEER, Role.ADMIN))) -> Response:  # noqa: B008
        """Prometheus metrics (scrape with an engineer token): their labels name merchants."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app

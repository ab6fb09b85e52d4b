"""Carriers' webhooks: `POST /v1/carriers/{carrier}/events`, proved by the carrier's signature, not a token.

Scans of parcels we know are passed to their tracking; scans of numbers nobody registered yet are kept
(bounded, expiring) for the parcel's tracking to claim when it starts.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Counter
from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ServicesDep
from api.errors import ApiError
from api.services import Services
from connectors.carriers.base import QueryVerifiedWebhooks, WebhookError
from domain import TrackingEvent, shipment_workflow_ids
from workflows.shipment_tracking import ShipmentTracking

WEBHOOK_EVENTS = Counter("aftercare_carrier_events_total", "Carrier webhook events", ["carrier", "outcome"])

router = APIRouter(prefix="/v1/carriers", tags=["carriers"])


class EventsAccepted(BaseModel):
    carrier: str
    events: int
    matched: list[str]
    unmatched: list[str]


@router.post("/{carrier}/events", status_code=202, response_model=EventsAccepted)
async def carrier_events(carrier: str, request: Request, svc: ServicesDep) -> EventsAccepted:
    """A carrier's webhook. Known parcels' journeys are told; unknown tracking numbers are kept for later."""
    client = svc.carriers.get(carrier)
    if client is None:
        raise ApiError(404, "unknown_carrier", f"no carrier {carrier!r}; known: {', '.join(svc.carriers)}")
    body = await request.body()
    try:
        if isinstance(client, QueryVerifiedWebhooks):  # Shippo: a `?token=` in the URL may stand for a signature
            events = client.parse_webhook_with_query(body, request.headers, request.query_params)
        else:
            events = client.parse_webhook(body, request.headers)
    except WebhookError as err:
        WEBHOOK_EVENTS.labels(carrier, "refused").inc()
        status = 401 if "signature" in str(err).lower() else 400
        raise ApiError(status, "bad_webhook", str(err)) from err
    # One transaction: the body once, scans of registered parcels, and (bounded, expiring) those of
    # numbers nobody registered yet, which the parcel's tracking claims when it starts.
    recorded = await run_in_threadpool(svc.store.record_carrier_push, carrier, body, events)
    matched: list[str] = []
    unmatched: list[str] = []
    for tracking_number, owners in recorded.owners.items():
        if not owners:
            unmatched.append(tracking_number)
            continue
        parcel_events = [e for e in events if e.tracking_number == tracking_number]
        for merchant_id, _order_id in owners:
            await signal_parcel(svc, merchant_id, carrier, tracking_number, parcel_events)
        matched.append(tracking_number)
    WEBHOOK_EVENTS.labels(carrier, "accepted").inc(len(events))
    return EventsAccepted(carrier=carrier, events=len(events), matched=matched, unmatched=unmatched)


async def signal_parcel(
    svc: Services, merchant_id: str, carrier: str, tracking_number: str, events: list[TrackingEvent]
) -> None:
    """Tell one merchant's parcel about its scans: its tracking child runs under the current id, or (started
    before `tenant-ids`) the legacy one, which drops events that are not its parcel's.

    Every parsed event is sent, not only the new ones: the child drops duplicates itself, and a carrier
    retrying after our failed signal must still get its events through. No child running (not started
    yet, or finished): the events are stored and its first poll returns them.
    """
    for workflow_id in shipment_workflow_ids(merchant_id, carrier, tracking_number):
        try:
            await svc.temporal.get_workflow_handle(workflow_id).signal(ShipmentTracking.tracking_update, events)
            return
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err

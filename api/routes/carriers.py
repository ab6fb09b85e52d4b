"""Tracking providers' webhooks: `POST /v1/carriers/{provider}/events`, proved by the provider's signature.

The path names the tracking provider (easypost, aftership...). Its pushes are verified with the process-wide
secret (`AFTERCARE_<PROVIDER>_WEBHOOK_SECRET`), or, for a push carrying `?merchant_id=`, with the secret in the
environment variable that merchant's policy names (`tracking.webhook_secret_env`): such a push speaks for that
merchant's parcels only. An unknown merchant, or one whose secret is not set, is refused exactly like a bad
signature (it is checked against a secret nobody has), so the answer says nothing of who exists.

Scans of parcels we know are passed to their tracking; scans of numbers nobody registered yet are kept
(bounded, expiring) for the parcel's tracking to claim when it starts. Where the provider names the parcel's
carrier (AfterShip's courier slug), a parcel recorded with another carrier is not this one.
"""

from __future__ import annotations

import logging
import os
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel
from temporalio.service import RPCError, RPCStatusCode

from api.deps import ServicesDep
from api.errors import ApiError
from api.services import Services
from api.webhook_metrics import CARRIER_EVENTS, CARRIER_WEBHOOKS
from connectors.carriers.base import CourierAware, QueryVerifiedWebhooks, WebhookError
from domain import TrackingEvent, shipment_workflow_ids
from workflows.shipment_tracking import ShipmentTracking

log = logging.getLogger("aftercare.api")

router = APIRouter(prefix="/v1/carriers", tags=["carriers"])


class EventsAccepted(BaseModel):
    carrier: str
    events: int
    matched: list[str]
    unmatched: list[str]


MerchantParam = Annotated[str | None, Query(max_length=64, description="whose own webhook secret signed this push")]


@router.post("/{carrier}/events", status_code=202, response_model=EventsAccepted)
async def carrier_events(
    carrier: str, request: Request, svc: ServicesDep, merchant_id: MerchantParam = None
) -> EventsAccepted:
    """A tracking provider's webhook. Known parcels' journeys are told; unknown tracking numbers are kept for later."""
    client = svc.carriers.get(carrier)
    if client is None:
        raise ApiError(404, "unknown_carrier", f"no carrier {carrier!r}; known: {', '.join(svc.carriers)}")
    body = await request.body()
    secret = None if merchant_id is None else merchant_secret(svc, carrier, merchant_id)
    try:
        if isinstance(client, QueryVerifiedWebhooks):  # Shippo: a `?token=` in the URL may stand for a signature
            events = client.parse_webhook_with_query(body, request.headers, request.query_params, secret)
        elif secret is None:
            events = client.parse_webhook(body, request.headers)
        else:
            events = client.parse_webhook(body, request.headers, secret)
    except WebhookError as err:
        status = 401 if "signature" in str(err).lower() else 400
        CARRIER_WEBHOOKS.labels(carrier, "refused" if status == 401 else "malformed").inc()
        raise ApiError(status, "bad_webhook", str(err)) from err
    couriers = client.pushed_carriers(body) if isinstance(client, CourierAware) else {}
    # One transaction: the body once, scans of registered parcels, and (bounded, expiring) those of
    # numbers nobody registered yet, which the parcel's tracking claims when it starts.
    recorded = await run_in_threadpool(svc.store.record_carrier_push, carrier, body, events, couriers, merchant_id)
    matched: list[str] = []
    unmatched: list[str] = []
    for tracking_number, owners in recorded.owners.items():
        if not owners:
            unmatched.append(tracking_number)
            continue
        parcel_events = [e for e in events if e.tracking_number == tracking_number]
        for owner, _order_id in owners:
            await signal_parcel(svc, owner, carrier, tracking_number, parcel_events)
        matched.append(tracking_number)
    CARRIER_WEBHOOKS.labels(carrier, "accepted").inc()
    unmatched_events = sum(1 for e in events if e.tracking_number in unmatched)
    CARRIER_EVENTS.labels(carrier, "matched").inc(len(events) - unmatched_events)
    CARRIER_EVENTS.labels(carrier, "unmatched").inc(unmatched_events)
    return EventsAccepted(carrier=carrier, events=len(events), matched=matched, unmatched=unmatched)


def merchant_secret(svc: Services, provider: str, merchant_id: str) -> str | None:
    """The webhook secret `merchant_id`'s pushes are checked with: its own (the variable its policy names), ours
    when its policy names none, and for an unknown merchant or an unset variable one nobody has (so the answer is
    the bad signature's)."""
    loaded = svc.policies.get(merchant_id)
    if loaded is None:
        return secrets.token_hex(32)
    variable = loaded.policy.tracking.webhook_secret_env
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        log.error("%s push for merchant %s: its webhook secret variable %s is not set", provider, merchant_id, variable)
        return secrets.token_hex(32)
    return value


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

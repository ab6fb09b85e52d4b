"""Messaging providers' delivery callbacks: `POST /v1/providers/{provider}/events` (and WhatsApp's GET handshake).

Proved by each provider's own signature or credentials (checked by its connector before the body is read),
not by a token. Each event moves its message's delivery status in the outbox, settles a send recorded as
unconfirmed, and suppresses the address when the event says so (storage.deliveries). The answer is the same
whether or not we knew the message: an event for a message we have no row for is accepted, counted and
ignored, so a caller learns nothing about which messages exist.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ValidationError

from api.callback_tenancy import verifier_for
from api.deps import ServicesDep
from api.errors import ApiError
from api.services import Services
from api.webhook_metrics import PROVIDER_EVENTS, PROVIDER_WEBHOOKS
from connectors.messaging.callbacks import CallbackRefused, CallbackRequest, ProviderCallbacks
from domain.delivery import DeliveryEvent
from storage import Store

log = logging.getLogger("aftercare.api.providers")
REFUSAL_STATUS = {"signature": 401, "malformed": 400, "unconfigured": 503}

router = APIRouter(prefix="/v1/providers", tags=["providers"])


class EventsAccepted(BaseModel):
    provider: str
    events: int  # how many events the body carried that we track (matched to a message or not: not said)


@router.post("/{provider}/events", response_model=EventsAccepted)
async def provider_events(provider: str, request: Request, svc: ServicesDep) -> EventsAccepted:
    """A provider's delivery callback: verified (with its merchant's own secret when it names one, see
    api.callback_tenancy), then each event applied to the message it is about."""
    verifier = verifier_for(_callbacks(svc, provider), svc.policies, provider, request.query_params.get("merchant_id"))
    callback = CallbackRequest(body=await request.body(), headers=request.headers, url=public_url(svc, request))
    try:
        events = verifier.callbacks.parse(callback)
    except CallbackRefused as err:
        PROVIDER_WEBHOOKS.labels(provider, "malformed" if err.kind == "malformed" else "refused").inc()
        raise ApiError(REFUSAL_STATUS[err.kind], f"bad_callback_{err.kind}", str(err)) from None
    except ValidationError as err:  # a verified body whose fields do not fit ours (no input values in the text)
        PROVIDER_WEBHOOKS.labels(provider, "malformed").inc()
        fields = ", ".join(sorted({str(e["loc"][0]) for e in err.errors() if e["loc"]}))
        raise ApiError(400, "bad_callback_malformed", f"event fields out of bounds: {fields}") from None
    outcomes = await run_in_threadpool(apply_events, svc.store, events, datetime.now(UTC), verifier.merchant_id)
    PROVIDER_WEBHOOKS.labels(provider, "accepted").inc()
    for outcome, count in outcomes.items():
        if count:
            PROVIDER_EVENTS.labels(provider, outcome).inc(count)
    log.info("%s callback: %d event(s), %s", provider, len(events), outcomes)  # counts only: no address
    return EventsAccepted(provider=provider, events=len(events))


@router.get("/{provider}/events", response_class=PlainTextResponse)
async def provider_handshake(provider: str, request: Request, svc: ServicesDep) -> PlainTextResponse:
    """WhatsApp Cloud's subscription check: echo `hub.challenge` when `hub.verify_token` is ours, else 403."""
    merchant_id = request.query_params.get("merchant_id")
    callbacks = verifier_for(_callbacks(svc, provider), svc.policies, provider, merchant_id).callbacks
    if callbacks.handshake is None:
        raise ApiError(405, "no_handshake", f"{provider} callbacks are POSTed; there is no GET handshake")
    try:
        challenge = callbacks.handshake(dict(request.query_params))
    except CallbackRefused as err:
        PROVIDER_WEBHOOKS.labels(provider, "malformed" if err.kind == "malformed" else "refused").inc()
        status = 403 if err.kind == "signature" else REFUSAL_STATUS[err.kind]
        raise ApiError(status, f"bad_handshake_{err.kind}", str(err)) from None
    return PlainTextResponse(challenge)


def apply_events(
    store: Store, events: list[DeliveryEvent], received_at: datetime, merchant_id: str | None = None
) -> dict[str, int]:
    """Each event applied in its own transaction, in the order the provider sent them, to `merchant_id`'s messages
    only when set; counts by outcome."""
    outcomes = {"recorded": 0, "unchanged": 0, "unmatched": 0}
    for event in events:
        done = store.record_delivery(event, received_at, merchant_id)
        if not done.matched:
            outcomes["unmatched"] += 1
        elif done.changed or done.confirmed:
            outcomes["recorded"] += 1
        else:
            outcomes["unchanged"] += 1
    return outcomes


def public_url(svc: Services, request: Request) -> str:
    """The URL the provider called, as it called it: behind a proxy, scheme and host come from settings."""
    base = svc.public_base_url or f"{request.url.scheme}://{request.url.netloc}"
    query = f"?{request.url.query}" if request.url.query else ""
    return f"{base.rstrip('/')}{request.url.path}{query}"


def _callbacks(svc: Services, provider: str) -> ProviderCallbacks:
    callbacks = svc.callbacks.get(provider)
    if callbacks is None:
        known = ", ".join(sorted(svc.callbacks)) or "none configured"
        raise ApiError(404, "unknown_provider", f"no messaging provider {provider!r}; known: {known}")
    return callbacks

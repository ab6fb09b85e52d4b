"""Signed pushes of the tracking-provider stand-ins (EasyPost, Shippo, 17TRACK): first try now, retries with
back-off.

Each vendor module builds its body and signature headers; this posts them to `state.push_url(provider)` (or the
URL the vendor module names) and keeps every attempt in `state.deliveries` (shown by
`GET /_sandbox/easypost/webhooks`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx

from sandbox.state import DeliveryAttempt, SandboxState, WebhookDelivery, utcnow


async def _attempt(
    state: SandboxState, client: httpx.AsyncClient, delivery: WebhookDelivery, body: bytes, headers: dict[str, str]
) -> bool:
    try:
        resp = await client.post(delivery.url, content=body, headers=headers, timeout=state.webhook_timeout)
    except httpx.HTTPError as exc:
        delivery.attempts.append(DeliveryAttempt(at=utcnow(), status_code=None, error=repr(exc)))
        return False
    ok = 200 <= resp.status_code < 300
    error = None if ok else resp.text[:300]
    delivery.attempts.append(DeliveryAttempt(at=utcnow(), status_code=resp.status_code, error=error))
    delivery.delivered = ok
    return ok


async def push(
    state: SandboxState,
    client: httpx.AsyncClient,
    provider: str,
    *,
    event_id: str,
    description: str,
    tracking_code: str,
    body: bytes,
    headers: dict[str, str],
    url: str | None = None,
    on_delivered: Callable[[], None] | None = None,
) -> WebhookDelivery:
    """POST one signed push for `provider` (to `url`, by default the provider's push URL); the caller sees the
    first attempt, retries run in the background; `on_delivered` runs once an attempt is answered 2xx."""
    delivery = WebhookDelivery(
        event_id=event_id, description=description, tracking_code=tracking_code, url=url or state.push_url(provider)
    )
    state.deliveries.append(delivery)
    headers = {"Content-Type": "application/json", **headers}
    if await _attempt(state, client, delivery, body, headers):
        if on_delivered is not None:
            on_delivered()
        return delivery

    async def retry() -> None:
        for delay in state.webhook_retry_delays:
            await asyncio.sleep(delay)
            if await _attempt(state, client, delivery, body, headers):
                if on_delivered is not None:
                    on_delivered()
                return
        delivery.gave_up = True

    if state.webhook_retry_delays:
        state.spawn(retry())
    else:
        delivery.gave_up = True
    return delivery

"""Signed `tracker.updated` webhook deliveries (`X-Hmac-Signature`), retried with back-off as EasyPost does."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import unicodedata
from typing import Any

import httpx

from sandbox.easypost import shapes
from sandbox.state import DeliveryAttempt, SandboxState, WebhookDelivery, utcnow


def sign(body: bytes, secret: str) -> str:
    """EasyPost's `X-Hmac-Signature`: HMAC-SHA256 of the raw body keyed by the NFKD-normalised secret."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def make_event(state: SandboxState, tracker: dict[str, Any], previous_status: str | None) -> dict[str, Any]:
    event = shapes.event(tracker, previous_status, state.webhook_url)
    state.events.append(event)
    return event


async def _attempt(state: SandboxState, client: httpx.AsyncClient, delivery: WebhookDelivery, body: bytes) -> bool:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "EasyPost WebHook Agent 1.0 (Aftercare sandbox)",
        "X-Hmac-Signature": sign(body, state.webhook_secret),
    }
    try:
        resp = await client.post(delivery.url, content=body, headers=headers, timeout=state.webhook_timeout)
    except httpx.HTTPError as exc:
        delivery.attempts.append(DeliveryAttempt(at=utcnow(), status_code=None, error=repr(exc)))
        return False
    ok = 200 <= resp.status_code < 300
    delivery.attempts.append(
        DeliveryAttempt(at=utcnow(), status_code=resp.status_code, error=None if ok else resp.text[:300])
    )
    delivery.delivered = ok
    return ok


async def deliver(state: SandboxState, client: httpx.AsyncClient, event: dict[str, Any]) -> WebhookDelivery:
    """First attempt now (the caller sees its outcome); retries with back-off in the background."""
    body = json.dumps(event).encode()
    delivery = WebhookDelivery(
        event_id=event["id"],
        description=event["description"],
        tracking_code=event["result"]["tracking_code"],
        url=state.webhook_url,
    )
    state.deliveries.append(delivery)
    if await _attempt(state, client, delivery, body):
        _complete(event)
        return delivery

    async def retry() -> None:
        for delay in state.webhook_retry_delays:
            await asyncio.sleep(delay)
            if await _attempt(state, client, delivery, body):
                _complete(event)
                return
        delivery.gave_up = True

    if state.webhook_retry_delays:
        state.spawn(retry())
    else:
        delivery.gave_up = True
    return delivery


def _complete(event: dict[str, Any]) -> None:
    event["status"] = "completed"
    event["completed_urls"], event["pending_urls"] = event["pending_urls"], []

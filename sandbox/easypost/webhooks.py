"""Signed `tracker.updated` webhook deliveries (`X-Hmac-Signature`), retried with back-off as EasyPost does."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from functools import partial
from typing import Any

import httpx

from sandbox.easypost import shapes
from sandbox.pushes import push
from sandbox.state import SandboxState, WebhookDelivery


def sign(body: bytes, secret: str) -> str:
    """EasyPost's `X-Hmac-Signature`: HMAC-SHA256 of the raw body keyed by the NFKD-normalised secret."""
    key = unicodedata.normalize("NFKD", secret).encode()
    return "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def make_event(state: SandboxState, tracker: dict[str, Any], previous_status: str | None) -> dict[str, Any]:
    event = shapes.event(tracker, previous_status, state.webhook_url)
    state.events.append(event)
    return event


async def deliver(state: SandboxState, client: httpx.AsyncClient, event: dict[str, Any]) -> WebhookDelivery:
    """First attempt now (the caller sees its outcome); retries with back-off in the background."""
    body = json.dumps(event).encode()
    headers = {
        "User-Agent": "EasyPost WebHook Agent 1.0 (Aftercare sandbox)",
        "X-Hmac-Signature": sign(body, state.webhook_secret),
    }
    return await push(
        state,
        client,
        "easypost",
        event_id=event["id"],
        description=event["description"],
        tracking_code=event["result"]["tracking_code"],
        body=body,
        headers=headers,
        url=state.webhook_url,
        on_delivered=partial(_complete, event),
    )


def _complete(event: dict[str, Any]) -> None:
    event["status"] = "completed"
    event["completed_urls"], event["pending_urls"] = event["pending_urls"], []

"""Stores' webhooks: `POST /v1/webhooks/{platform}` (shopify, woocommerce), proved by the shop's signature, not a token.

The same steps for every platform (`connectors.stores.STORES`): the shop the delivery names selects the merchant
whose policy connects it (none: 404); its secret comes from the environment variable the policy names (not set:
503); the signature over the raw body is checked before anything is parsed (missing or wrong: 401, nothing
stored); a delivery id seen before answers 200 and changes nothing; the body becomes one `domain.stores` event
(malformed: 400 naming the problem, nothing stored), which `api/store_events.py` acts on. The delivery is recorded
once it has been acted on, so a failure (Temporal down: 503) is retried by the store and completes then.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel

from api.deps import ServicesDep
from api.errors import ApiError
from api.services import Services
from api.store_events import Acted, act_on
from api.webhook_metrics import STORE_WEBHOOKS
from connectors.stores import STORES, SignatureError, StoreWebhooks, WebhookError
from domain.stores import StorePlatform
from policies.loader import LoadedPolicy

log = logging.getLogger("aftercare.api.stores")


router = APIRouter(prefix="/v1/webhooks", tags=["stores"])


class DeliveryAccepted(BaseModel):
    platform: str
    topic: str
    delivery_id: str
    outcome: str
    order_id: str | None = None
    duplicate: bool = False


@router.post("/{platform}", response_model=DeliveryAccepted)
async def store_webhook(platform: str, request: Request, svc: ServicesDep) -> DeliveryAccepted:
    """A store's webhook (Shopify: orders/create, orders/updated, orders/paid, orders/cancelled,
    fulfillments/create, fulfillments/update, refunds/create; WooCommerce: order.created, order.updated).
    Answers 200 once acted on; a retry of the same delivery answers 200 with `duplicate` and changes nothing.
    Topics we do not act on answer 200 `ignored`."""
    connector = _connector(platform)
    body = await request.body()
    headers = request.headers
    if connector.is_ping(body, headers):  # the store checking the URL answers (WooCommerce, on saving a webhook)
        return DeliveryAccepted(platform=platform, topic="ping", delivery_id="", outcome="pong")
    try:
        shop = connector.shop_of(headers)
    except WebhookError as err:
        STORE_WEBHOOKS.labels(platform, "", "malformed").inc()
        raise ApiError(400, "bad_webhook", str(err)) from err
    loaded = merchant_of_shop(svc, connector.platform, shop)
    secret = _secret(loaded, shop)
    try:
        connector.verify(body, headers, secret)
        delivery = connector.envelope(headers, shop, body)
    except SignatureError as err:
        STORE_WEBHOOKS.labels(platform, "", "refused").inc()
        raise ApiError(401, "bad_signature", str(err)) from err
    except WebhookError as err:
        STORE_WEBHOOKS.labels(platform, "", "malformed").inc()
        raise ApiError(400, "bad_webhook", str(err)) from err
    delivery_id = delivery.delivery_id or f"sha256:{hashlib.sha256(body).hexdigest()}"  # the same bytes: a repeat
    merchant_id = loaded.merchant_id
    seen = await run_in_threadpool(svc.store.store_delivery_seen, platform, shop, delivery_id)
    if seen is not None:
        STORE_WEBHOOKS.labels(platform, delivery.topic, "duplicate").inc()
        return DeliveryAccepted(
            platform=platform, topic=delivery.topic, delivery_id=delivery_id, outcome=seen, duplicate=True
        )
    try:
        events = connector.parse(delivery, body, merchant_id)
    except WebhookError as err:
        STORE_WEBHOOKS.labels(platform, delivery.topic, "malformed").inc()
        raise ApiError(400, "bad_webhook", str(err)) from err
    acted = Acted("ignored: nothing Aftercare acts on")
    if events:
        raw = json.loads(body)  # parsed already: valid JSON
        done = [await act_on(svc, loaded, event, raw) for event in events]
        acted = Acted(
            "; ".join(a.outcome for a in done),
            next((a.order_id for a in done if a.order_id), None),
            next((a.order_updated_at for a in done if a.order_updated_at), None),
        )
    await run_in_threadpool(
        svc.store.record_store_delivery,
        platform,
        shop,
        delivery_id,
        delivery.topic,
        merchant_id,
        acted.order_id,
        acted.outcome,
        acted.order_updated_at,
    )
    STORE_WEBHOOKS.labels(platform, delivery.topic, "accepted").inc()
    log.info("%s %s from %s: %s", platform, delivery.topic, shop, acted.outcome)
    return DeliveryAccepted(
        platform=platform,
        topic=delivery.topic,
        delivery_id=delivery_id,
        outcome=acted.outcome,
        order_id=acted.order_id,
    )


def _connector(platform: str) -> StoreWebhooks:
    try:
        return STORES[StorePlatform(platform)]
    except (ValueError, KeyError):
        known = ", ".join(p.value for p in STORES)
        raise ApiError(404, "unknown_platform", f"no store platform {platform[:32]!r}; known: {known}") from None


def merchant_of_shop(svc: Services, platform: StorePlatform, shop: str) -> LoadedPolicy:
    """The merchant whose policy connects this shop. Unknown shops are 404, and say nothing about who else is."""
    for loaded in svc.policies.values():
        store = loaded.policy.store
        if store is not None and store.platform == platform.value and store.shop == shop:
            return loaded
    raise ApiError(
        404,
        "unknown_shop",
        f"no merchant's policy connects the {platform.value} shop {shop[:255]!r} (add a store: section to it)",
    )


def _secret(loaded: LoadedPolicy, shop: str) -> str:
    """The shop's webhook secret, from the variable the policy names: read per request, so setting it needs no
    policy reload. Not set: 503 naming the variable (a name, not a secret)."""
    store = loaded.policy.store
    assert store is not None
    secret = os.environ.get(store.webhook_secret_env, "")
    if not secret:
        raise ApiError(
            503,
            "webhook_secret_not_set",
            f"the webhook secret of shop {shop!r} is not set: set the environment variable "
            f"{store.webhook_secret_env} on the API (the merchant's policy names it)",
        )
    return secret

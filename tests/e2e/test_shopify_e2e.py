"""A Shopify shop drives journeys end to end: the sandbox's shop sends signed Shopify webhooks (orders/create,
fulfillments/create, fulfillments/update, refunds/create, orders/cancelled) to the API over HTTP, on the real
Temporal dev server with the worker in its own process; emails land in the SMTP sink."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from policies.loader import load_policy_text
from tests.e2e.conftest import E2E_POLICY, Stack
from tests.e2e.test_journey_e2e import wait_for_stage
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver

SHOP = "e2e-goods.myshopify.com"
SECRET = "shpss_e2e_secret"
EMAIL = "margaret@example.com"
# The e2e merchant's policy, as a second merchant that connects a Shopify shop and asks for a review per item.
SHOP_POLICY = (
    E2E_POLICY.replace("id: e2e\n", "id: e2e-shop\n")
    .replace(
        "review_request: {after: 5s, reminder_after: 3s, channels: [email]}",
        "review_request: {after: 8s, reminder_after: 2s, per: item, channels: [email]}",
    )
    .replace("window: 10s", "window: 12s")
    + f"store: {{platform: shopify, shop_domain: {SHOP}, webhook_secret_env: E2E_SHOPIFY_WEBHOOK_SECRET}}\n"
)


@pytest.fixture
async def shop(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    """The sandbox's Shopify shop, connected to the API: the API knows the shop (policy) and its secret (env), the
    shop signs with that secret and sends to the API's /v1/webhooks/shopify."""
    assert "per: item" in SHOP_POLICY and "store:" in SHOP_POLICY
    monkeypatch.setenv("E2E_SHOPIFY_WEBHOOK_SECRET", SECRET)
    stack.services.policies = {**stack.services.policies, "e2e-shop": load_policy_text(SHOP_POLICY, "e2e-shop.yaml")}
    state = stack.sandbox.state
    state.shopify_secrets[SHOP] = SECRET
    state.shopify_webhook_url = str(stack.api.base_url).rstrip("/") + "/v1/webhooks/shopify"
    async with httpx.AsyncClient(base_url=f"{stack.sandbox.http_url}/_sandbox/shopify", timeout=30) as client:
        yield client


async def control(client: httpx.AsyncClient, path: str, **body: Any) -> dict[str, Any]:
    """Act in the shop; its webhook to our API must have been accepted."""
    response = await client.post(path, json=body)
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    delivery = answer["delivery"]
    assert delivery["status_code"] == 200, delivery
    return answer


async def state_of(stack: Stack, order_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/v1/orders/{order_id}", params={"merchant_id": "e2e-shop"})
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


def emails_about(stack: Stack, words: str) -> list[Any]:
    return [e for e in stack.sandbox.state.emails if EMAIL in e.rcpt_tos and words in (e.subject + (e.text or ""))]


async def test_a_shopify_order_is_delivered_and_a_refunded_item_gets_no_review_request(
    stack: Stack, shop: httpx.AsyncClient
) -> None:
    items = [
        {"sku": "TEA-OOLONG", "title": "Oolong tea", "variant_title": "100g", "quantity": 1, "price": "12.00"},
        {"sku": "MUG-1", "title": "Tea mug", "variant_title": "Blue", "quantity": 1, "price": "18.00"},
    ]
    placed = await control(shop, "/orders", shop=SHOP, email=EMAIL, first_name="Margaret", items=items)
    order = placed["order"]
    order_id = str(order["id"])
    tea, mug = (str(line["id"]) for line in order["line_items"])
    await wait_for_stage(stack, order_id, "awaiting_fulfillment")

    tracking = f"1Z{order_id[-10:]}"
    fulfilled = await control(
        shop, f"/orders/{order_id}/fulfillments", tracking_company="UPS", tracking_number=tracking
    )
    fulfillment_id = fulfilled["fulfillment"]["id"]
    state = await wait_for_stage(stack, order_id, "in_transit")
    assert [(p["carrier"], p["tracking_number"]) for p in state["parcels"]] == [("ups", tracking)]

    await control(shop, f"/fulfillments/{fulfillment_id}", shipment_status="in_transit")
    await control(shop, f"/fulfillments/{fulfillment_id}", shipment_status="delivered")

    async def delivered_email() -> None:
        assert emails_about(stack, "has been delivered"), "no delivered email yet"

    await eventually(delivered_email, "the delivered email in the SMTP sink", timeout=60)
    # The customer reads the order as the shop names it (`#1234`), never Shopify's 64-bit id.
    delivered = emails_about(stack, "has been delivered")[0]
    assert order["name"] in delivered.subject and order_id not in delivered.subject
    # Refunded in the Shopify admin before its review request is due: no review request for the tea.
    refund = await control(shop, f"/orders/{order_id}/refunds", line_items=[{"line_item_id": int(tea), "quantity": 1}])
    assert refund["refund"]["refund_line_items"][0]["line_item_id"] == int(tea)
    # the same refund delivered again (Shopify's retry) changes nothing
    again = await shop.post(f"/deliveries/{refund['delivery']['webhook_id']}/redeliver")
    assert '"duplicate":true' in again.json()["delivery"]["answer"]

    final = await wait_for_stage(stack, order_id, "completed", timeout=90)
    reviews = [m for m in final["messages"] if m["step"] == "review_request"]
    sent = [m for m in reviews if m["status"] == "sent"]
    skipped = [m for m in reviews if m["status"] == "skipped"]
    assert len(sent) == 1 and sent[0]["idempotency_key"].endswith(f":{mug}")
    assert len(skipped) == 1 and skipped[0]["skip_reason"] == "not_applicable" and tea in skipped[0]["detail"]
    assert [(r["provider"], r["items"], r["status"]) for r in final["refunds"]] == [("store", {tea: 1}, "succeeded")]
    assert stack.sandbox.state.refunds == {}  # no money moved at the payment provider
    assert len(emails_about(stack, "review")) >= 1


async def test_a_shopify_cancellation_ends_the_journey_without_a_refund(stack: Stack, shop: httpx.AsyncClient) -> None:
    placed = await control(shop, "/orders", shop=SHOP, email=EMAIL)
    order_id = str(placed["order"]["id"])
    await wait_for_stage(stack, order_id, "awaiting_fulfillment")
    await control(shop, f"/orders/{order_id}/cancel", reason="customer")
    final = await wait_for_stage(stack, order_id, "cancelled", timeout=60)
    assert "cancelled in the store" in final["cancel_reason"] and final["refunds"] == []

    async def cancelled_email() -> None:
        sent = [m for m in (await state_of(stack, order_id))["messages"] if m["step"] == "cancelled"]
        assert sent and sent[0]["status"] == "sent", sent

    await eventually(cancelled_email, "the cancellation email", timeout=30)
    assert stack.sandbox.state.refunds == {}


async def test_an_order_with_no_email_or_phone_skips_every_message(stack: Stack, shop: httpx.AsyncClient) -> None:
    placed = await control(shop, "/orders", shop=SHOP, email=None, phone=None)
    order_id = str(placed["order"]["id"])
    deadline = time.monotonic() + 30
    confirmation: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not confirmation:
        messages = (await state_of(stack, order_id))["messages"]
        confirmation = [m for m in messages if m["step"] == "confirmation"]
        await asyncio.sleep(0.3)
    assert confirmation and all(m["status"] == "skipped" and m["skip_reason"] == "no_address" for m in confirmation)

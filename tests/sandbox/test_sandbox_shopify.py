"""The Shopify stand-in speaks Shopify: its webhooks carry Shopify's headers and signature, and bodies our
Shopify connector reads as Shopify's own (checked here by the connector itself, over real sockets)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest

from connectors.stores.shopify import ShopifyWebhooks
from domain.stores import FulfillmentChanged, OrderCancelled, OrderPlaced, StoreRefund
from sandbox import RunningSandbox
from sandbox.shopify import DEMO_SHOP

SECRET = "sandbox-shopify-secret"


@pytest.fixture
async def shop(sandbox: RunningSandbox, control: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """The shop's controls, its webhooks sent to the sandbox's own receiver."""
    sandbox.state.shopify_webhook_url = f"{sandbox.http_url}/_sandbox/easypost/webhook-sink"
    async with httpx.AsyncClient(base_url=f"{sandbox.http_url}/_sandbox/shopify", timeout=5) as client:
        yield client


def received(sandbox: RunningSandbox, topic: str) -> list[tuple[dict[str, str], bytes]]:
    return [(w.headers, w.body) for w in sandbox.state.webhook_sink if w.headers.get("x-shopify-topic") == topic]


def read(headers: dict[str, str], body: bytes) -> Any:
    """What our connector makes of a delivery: verified with the shop's secret, then parsed."""
    connector = ShopifyWebhooks()
    connector.verify(body, headers, SECRET)
    [event] = connector.parse(connector.envelope(headers, connector.shop_of(headers), body), body, "demo")
    return event


async def test_a_placed_order_is_a_signed_orders_create(shop: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    resp = await shop.post(
        "/orders",
        json={"email": "ada@example.com", "items": [{"sku": "MUG-1", "title": "Mug", "quantity": 2, "price": "9.50"}]},
    )
    assert resp.status_code == 200 and resp.json()["delivery"]["status_code"] == 200
    [(headers, body)] = received(sandbox, "orders/create")
    assert headers["x-shopify-shop-domain"] == DEMO_SHOP
    assert headers["x-shopify-webhook-id"] and headers["x-shopify-api-version"] and headers["x-shopify-triggered-at"]
    event = read(headers, body)
    assert isinstance(event, OrderPlaced)
    assert event.order.order_id == str(resp.json()["order"]["id"])
    assert event.order.total == Decimal("24.00")  # 2 x 9.50 and 5.00 shipping
    assert [(i.sku, i.quantity) for i in event.order.items] == [("MUG-1", 2)]
    assert event.order.customer.email == "ada@example.com" and event.order.customer.timezone == "America/New_York"


async def test_fulfil_refund_and_cancel(shop: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    order = (await shop.post("/orders", json={"items": [{"sku": "A"}, {"sku": "B"}]})).json()["order"]
    first, second = (line["id"] for line in order["line_items"])
    made = await shop.post(
        f"/orders/{order['id']}/fulfillments",
        json={"line_items": [{"line_item_id": first}], "tracking_company": "DHL Express", "tracking_number": "JD0001"},
    )
    fulfillment = read(*received(sandbox, "fulfillments/create")[0])
    assert isinstance(fulfillment, FulfillmentChanged) and fulfillment.shipment is not None
    assert (fulfillment.shipment.carrier, fulfillment.shipment.items) == ("dhl_express", {str(first): 1})

    await shop.post(f"/fulfillments/{made.json()['fulfillment']['id']}", json={"shipment_status": "out_for_delivery"})
    update = read(*received(sandbox, "fulfillments/update")[0])
    assert update.shipment_status.value == "out_for_delivery"

    await shop.post(f"/orders/{order['id']}/refunds", json={"line_items": [{"line_item_id": second}], "shipping": "5"})
    refund = read(*received(sandbox, "refunds/create")[0])
    assert isinstance(refund, StoreRefund)
    assert refund.items == {str(second): 1} and refund.amount == Decimal("17.50")

    await shop.post(f"/orders/{order['id']}/cancel", json={"reason": "fraud"})
    cancelled = read(*received(sandbox, "orders/cancelled")[0])
    assert isinstance(cancelled, OrderCancelled) and cancelled.reason == "fraud"


async def test_a_redelivery_keeps_its_webhook_id(shop: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
    first = (await shop.post("/orders", json={})).json()["delivery"]
    again = (await shop.post(f"/deliveries/{first['webhook_id']}/redeliver")).json()["delivery"]
    assert again["webhook_id"] == first["webhook_id"]
    ids = [h["x-shopify-webhook-id"] for h, _ in received(sandbox, "orders/create")]
    assert ids == [first["webhook_id"]] * 2
    listed = (await shop.get("/deliveries")).json()["deliveries"]
    assert len(listed) == 2


async def test_an_order_with_no_email_or_phone_has_no_customer(
    shop: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    await shop.post("/orders", json={"email": None, "phone": None})
    event = read(*received(sandbox, "orders/create")[0])
    assert event.order.customer.email is None and event.order.customer.phone is None


async def test_a_fulfilment_left_without_a_number_buys_a_label_and_null_means_none(
    shop: httpx.AsyncClient, sandbox: RunningSandbox
) -> None:
    """As in Shopify's admin: fulfilling with a bought label gives the parcel a number (so it is tracked);
    a fulfilment marked without one (null) is recorded and not tracked."""
    order = (await shop.post("/orders", json={})).json()["order"]
    labelled = (await shop.post(f"/orders/{order['id']}/fulfillments", json={})).json()["fulfillment"]
    assert labelled["tracking_number"] and labelled["tracking_numbers"] == [labelled["tracking_number"]]
    created = read(*received(sandbox, "fulfillments/create")[0])
    assert isinstance(created, FulfillmentChanged) and created.shipment is not None
    assert created.shipment.tracking_number == labelled["tracking_number"]

    other = (await shop.post("/orders", json={})).json()["order"]
    bare = (await shop.post(f"/orders/{other['id']}/fulfillments", json={"tracking_number": None})).json()
    assert bare["fulfillment"]["tracking_number"] is None and bare["fulfillment"]["tracking_numbers"] == []

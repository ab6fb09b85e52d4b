"""A stand-in for a Shopify shop: it places, fulfils, refunds and cancels orders and sends us the webhooks
Shopify would, in Shopify's REST webhook format and with its headers (`X-Shopify-Topic`, `-Hmac-Sha256` =
base64 HMAC-SHA256 of the body with the shop's secret, `-Shop-Domain`, `-Webhook-Id`, `-Event-Id`,
`-Triggered-At`, `-API-Version`), as `sandbox/easypost/webhooks.py` pushes tracker events.

Controls (each answers with the object and what our API said to its webhook):
- `POST /_sandbox/shopify/orders`: place an order (orders/create);
- `POST /_sandbox/shopify/orders/{id}/fulfillments`: fulfil some or all of its items (fulfillments/create);
- `POST /_sandbox/shopify/fulfillments/{id}`: a carrier update or a cancellation (fulfillments/update);
- `POST /_sandbox/shopify/orders/{id}/refunds`: refund items and/or shipping (refunds/create);
- `POST /_sandbox/shopify/orders/{id}/cancel`: cancel the order (orders/cancelled);
- `POST /_sandbox/shopify/deliveries/{webhook_id}/redeliver`: the same delivery again (Shopify's retry);
- `GET /_sandbox/shopify/deliveries`: every delivery and our answer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.state import SandboxState

API_VERSION = "2025-10"
DEMO_SHOP = "aftercare-demo.myshopify.com"


def sign(body: bytes, secret: str) -> str:
    """Shopify's `X-Shopify-Hmac-Sha256`: base64 of the HMAC-SHA256 of the raw body, keyed by the secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _now() -> str:
    """Shopify's time style: local time with its offset, seconds (the sandbox's shop keeps UTC)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _money(amount: Decimal | int | str, currency: str) -> dict[str, Any]:
    value = {"amount": f"{Decimal(amount):.2f}", "currency_code": currency}
    return {"shop_money": value, "presentment_money": dict(value)}


class ItemIn(BaseModel):
    sku: str = "COFFEE-1"
    title: str = "House blend coffee"
    variant_title: str | None = "250g"
    quantity: int = Field(default=1, ge=1, le=1000)
    price: Decimal = Field(default=Decimal("12.50"), ge=0)
    properties: dict[str, str] = Field(default_factory=dict)


class OrderIn(BaseModel):
    shop: str = DEMO_SHOP
    email: str | None = "customer@example.com"
    phone: str | None = None
    first_name: str = "Ada"
    last_name: str = "Lovelace"
    accepts_marketing: bool = True
    currency: str = "USD"
    country_code: str = "US"
    province_code: str | None = "NY"
    shipping: Decimal = Field(default=Decimal("5.00"), ge=0)
    items: list[ItemIn] = Field(default_factory=lambda: [ItemIn()], min_length=1, max_length=50)


class LineIn(BaseModel):
    line_item_id: int
    quantity: int = Field(default=1, ge=1)


class FulfillIn(BaseModel):
    line_items: list[LineIn] = Field(default_factory=list, description="none: every line item, all of it")
    tracking_company: str | None = "UPS"
    tracking_number: str | None = Field(
        default=None, description="left out: a label is bought and its number made up; null: none (not tracked)"
    )
    shipment_status: str | None = None


class FulfillmentUpdateIn(BaseModel):
    shipment_status: str | None = None
    status: str | None = Field(default=None, description="cancelled: the fulfillment is cancelled")


class RefundIn(BaseModel):
    line_items: list[LineIn] = Field(default_factory=list)
    shipping: Decimal = Field(default=Decimal(0), ge=0, description="shipping refunded (an order adjustment)")
    note: str = "refund from the sandbox shop"


class CancelIn(BaseModel):
    reason: str = "customer"


def order_json(state: SandboxState, body: OrderIn) -> dict[str, Any]:
    """An Order as Shopify's orders/create webhook carries it."""
    state.shopify_next_id += 1
    order_id, now, cur = state.shopify_next_id, _now(), body.currency
    lines = []
    for n, item in enumerate(body.items, start=1):
        line_id = order_id * 10 + n
        lines.append(
            {
                "id": line_id, "admin_graphql_api_id": f"gid://shopify/LineItem/{line_id}", "current_quantity":
                item.quantity, "fulfillable_quantity": item.quantity, "fulfillment_service": "manual",
                "fulfillment_status": None, "gift_card": False, "grams": 250,
                "name": f"{item.title} - {item.variant_title}" if item.variant_title else item.title,
                "price": f"{item.price:.2f}", "price_set": _money(item.price, cur), "product_exists": True,
                "product_id": line_id + 7, "properties": [{"name": k, "value": v} for k, v in item.properties.items()],
                "quantity": item.quantity, "requires_shipping": True, "sku": item.sku, "taxable": True,
                "title": item.title, "total_discount": "0.00", "total_discount_set": _money(0, cur),
                "variant_id": line_id + 3, "variant_inventory_management": "shopify",
                "variant_title": item.variant_title, "vendor": None, "tax_lines": [], "duties": [],
                "discount_allocations": [],
            }
        )  # fmt: skip
    subtotal = sum((i.price * i.quantity for i in body.items), Decimal(0))
    address: dict[str, Any] = {
        "first_name": body.first_name, "last_name": body.last_name, "name": f"{body.first_name} {body.last_name}",
        "address1": "1 Sandbox Way", "address2": None, "city": "Springfield", "zip": "12345", "phone": body.phone,
        "province": body.province_code, "province_code": body.province_code, "country": body.country_code,
        "country_code": body.country_code, "company": None, "latitude": None, "longitude": None,
    }  # fmt: skip
    consent = "subscribed" if body.accepts_marketing else "not_subscribed"
    customer: dict[str, Any] = {
        "id": order_id + 1, "email": body.email, "phone": body.phone, "first_name": body.first_name,
        "last_name": body.last_name, "created_at": now, "updated_at": now, "state": "enabled", "note": None,
        "verified_email": True, "tax_exempt": False, "tags": "", "currency": cur, "tax_exemptions": [],
        "email_marketing_consent": {"state": consent, "opt_in_level": "single_opt_in", "consent_updated_at": now},
        "sms_marketing_consent": None, "admin_graphql_api_id": f"gid://shopify/Customer/{order_id + 1}",
    }  # fmt: skip
    return {
        "id": order_id, "admin_graphql_api_id": f"gid://shopify/Order/{order_id}", "name": f"#{order_id % 100000}",
        "email": body.email, "contact_email": body.email, "phone": body.phone, "created_at": now, "updated_at": now,
        "processed_at": now, "currency": cur, "presentment_currency": cur, "buyer_accepts_marketing":
        body.accepts_marketing, "customer_locale": "en", "financial_status": "paid", "fulfillment_status": None,
        "subtotal_price": f"{subtotal:.2f}", "subtotal_price_set": _money(subtotal, cur), "total_discounts": "0.00",
        "total_discounts_set": _money(0, cur), "total_tax": "0.00", "total_tax_set": _money(0, cur),
        "total_shipping_price_set": _money(body.shipping, cur), "total_price": f"{subtotal + body.shipping:.2f}",
        "total_price_set": _money(subtotal + body.shipping, cur), "total_line_items_price": f"{subtotal:.2f}",
        "payment_gateway_names": ["bogus"], "note_attributes": [], "tags": "", "test": True,
        "cancelled_at": None, "cancel_reason": None, "customer": customer if body.email or body.phone else None,
        "line_items": lines, "shipping_address": address, "billing_address": dict(address), "fulfillments": [],
        "refunds": [], "shipping_lines": [{"id": order_id + 2, "title": "Standard", "price": f"{body.shipping:.2f}",
        "price_set": _money(body.shipping, cur), "code": "STANDARD", "source": "shopify"}],
    }  # fmt: skip


def fulfillment_json(state: SandboxState, order: dict[str, Any], body: FulfillIn) -> dict[str, Any]:
    """A Fulfillment as Shopify's fulfillments/create webhook carries it: only the lines (and quantities) given."""
    state.shopify_next_id += 1
    fid, now = state.shopify_next_id, _now()
    by_id = {line["id"]: line for line in order["line_items"]}
    wanted = body.line_items or [LineIn(line_item_id=i, quantity=line["quantity"]) for i, line in by_id.items()]
    lines = [by_id[w.line_item_id] | {"quantity": w.quantity} for w in wanted if w.line_item_id in by_id]
    # Left out, as a merchant buying a label in Shopify's admin: a made-up number; given as null, none at all.
    number = body.tracking_number if "tracking_number" in body.model_fields_set else f"1ZSBX{fid % 10**12:012d}"
    url = f"https://tracking.sandbox.test/{number}" if number else None
    return {
        "id": fid, "admin_graphql_api_id": f"gid://shopify/Fulfillment/{fid}", "order_id": order["id"],
        "status": "success", "created_at": now, "updated_at": now, "service": "manual", "location_id": 905684977,
        "tracking_company": body.tracking_company, "shipment_status": body.shipment_status,
        "tracking_number": number, "tracking_numbers": [number] if number else [], "tracking_url": url,
        "tracking_urls": [url] if url else [], "email": order["email"], "destination": order["shipping_address"],
        "origin_address": None, "line_items": lines, "receipt": {}, "name": f"{order['name']}.{len(lines)}",
    }  # fmt: skip


def refund_json(state: SandboxState, order: dict[str, Any], body: RefundIn) -> dict[str, Any]:
    """A Refund as Shopify's refunds/create webhook carries it: line items, a shipping adjustment, a transaction."""
    state.shopify_next_id += 1
    rid, now, cur = state.shopify_next_id, _now(), order["currency"]
    by_id = {line["id"]: line for line in order["line_items"]}
    lines, total = [], Decimal(0)
    for n, want in enumerate(body.line_items):
        line = by_id.get(want.line_item_id)
        if line is None:
            continue
        subtotal = Decimal(line["price"]) * want.quantity
        total += subtotal
        lines.append(
            {"id": rid * 10 + n, "line_item_id": line["id"], "quantity": want.quantity, "location_id": None,
             "restock_type": "no_restock", "subtotal": float(subtotal), "total_tax": 0.0,
             "subtotal_set": _money(subtotal, cur), "total_tax_set": _money(0, cur), "line_item": line}
        )  # fmt: skip
    adjustments = []
    if body.shipping:
        total += body.shipping
        adjustments.append(
            {"id": rid + 1, "order_id": order["id"], "refund_id": rid, "amount": f"{-body.shipping:.2f}",
             "tax_amount": "0.00", "kind": "shipping_refund", "reason": "Shipping refund",
             "amount_set": _money(-body.shipping, cur), "tax_amount_set": _money(0, cur)}
        )  # fmt: skip
    return {
        "id": rid, "admin_graphql_api_id": f"gid://shopify/Refund/{rid}", "order_id": order["id"],
        "created_at": now, "processed_at": now, "note": body.note, "restock": False, "user_id": None,
        "duties": [], "refund_shipping_lines": [], "refund_line_items": lines, "order_adjustments": adjustments,
        "transactions": [{"id": rid + 2, "order_id": order["id"], "amount": f"{total:.2f}", "kind": "refund",
                          "gateway": "bogus", "status": "success", "currency": cur, "created_at": now, "test": True,
                          "authorization": None, "message": None, "parent_id": None, "receipt": {}}],
    }  # fmt: skip


def webhook_url(state: SandboxState) -> str:
    if state.shopify_webhook_url:
        return state.shopify_webhook_url
    parts = urlsplit(state.webhook_url)
    return f"{parts.scheme}://{parts.netloc}/v1/webhooks/shopify"


async def deliver(
    state: SandboxState, client: httpx.AsyncClient, shop: str, topic: str, payload: dict[str, Any], webhook_id: str = ""
) -> dict[str, Any]:
    """POST one webhook, signed with the shop's secret; the delivery (with our answer) is kept and returned."""
    body = json.dumps(payload).encode()
    webhook_id = webhook_id or str(uuid.uuid4())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Shopify-Captain-Hook",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": sign(body, state.shopify_secrets.get(shop, "")),
        "X-Shopify-Shop-Domain": shop,
        "X-Shopify-Webhook-Id": webhook_id,
        "X-Shopify-Event-Id": str(uuid.uuid4()),
        "X-Shopify-Triggered-At": _now(),
        "X-Shopify-API-Version": API_VERSION,
    }
    delivery: dict[str, Any] = {"webhook_id": webhook_id, "topic": topic, "shop": shop, "url": webhook_url(state)}
    try:
        resp = await client.post(delivery["url"], content=body, headers=headers, timeout=state.webhook_timeout)
        delivery |= {"status_code": resp.status_code, "answer": resp.text[:2000]}
    except httpx.HTTPError as exc:
        delivery |= {"status_code": None, "answer": repr(exc)}
    with state.lock:
        state.shopify_deliveries.append(delivery | {"payload": payload})
    return delivery


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/shopify", tags=["sandbox: shopify"])

    def missing(what: str, key: str) -> JSONResponse:
        return JSONResponse({"error": f"no {what} {key}"}, status_code=404)

    @router.post("/orders")
    async def place(body: OrderIn) -> JSONResponse:
        order = order_json(state, body) | {"_shop": body.shop}
        state.shopify_orders[str(order["id"])] = order
        public = {k: v for k, v in order.items() if not k.startswith("_")}
        delivery = await deliver(state, client, body.shop, "orders/create", public)
        return JSONResponse({"order": public, "delivery": delivery})

    @router.post("/orders/{order_id}/fulfillments")
    async def fulfil(order_id: str, body: FulfillIn) -> JSONResponse:
        order = state.shopify_orders.get(order_id)
        if order is None:
            return missing("order", order_id)
        fulfillment = fulfillment_json(state, order, body) | {"_shop": order["_shop"]}
        state.shopify_fulfillments[str(fulfillment["id"])] = fulfillment
        public = {k: v for k, v in fulfillment.items() if not k.startswith("_")}
        delivery = await deliver(state, client, order["_shop"], "fulfillments/create", public)
        return JSONResponse({"fulfillment": public, "delivery": delivery})

    @router.post("/fulfillments/{fulfillment_id}")
    async def update_fulfillment(fulfillment_id: str, body: FulfillmentUpdateIn) -> JSONResponse:
        fulfillment = state.shopify_fulfillments.get(fulfillment_id)
        if fulfillment is None:
            return missing("fulfillment", fulfillment_id)
        fulfillment |= {k: v for k, v in body.model_dump().items() if v is not None} | {"updated_at": _now()}
        public = {k: v for k, v in fulfillment.items() if not k.startswith("_")}
        delivery = await deliver(state, client, fulfillment["_shop"], "fulfillments/update", public)
        return JSONResponse({"fulfillment": public, "delivery": delivery})

    @router.post("/orders/{order_id}/refunds")
    async def refund(order_id: str, body: RefundIn) -> JSONResponse:
        order = state.shopify_orders.get(order_id)
        if order is None:
            return missing("order", order_id)
        made = refund_json(state, order, body)
        delivery = await deliver(state, client, order["_shop"], "refunds/create", made)
        return JSONResponse({"refund": made, "delivery": delivery})

    @router.post("/orders/{order_id}/cancel")
    async def cancel(order_id: str, body: CancelIn) -> JSONResponse:
        order = state.shopify_orders.get(order_id)
        if order is None:
            return missing("order", order_id)
        now = _now()
        order |= {"cancelled_at": now, "cancel_reason": body.reason, "updated_at": now}
        public = {k: v for k, v in order.items() if not k.startswith("_")}
        delivery = await deliver(state, client, order["_shop"], "orders/cancelled", public)
        return JSONResponse({"order": public, "delivery": delivery})

    @router.post("/deliveries/{webhook_id}/redeliver")
    async def redeliver(webhook_id: str) -> JSONResponse:
        sent = next((d for d in state.shopify_deliveries if d["webhook_id"] == webhook_id), None)
        if sent is None:
            return missing("delivery", webhook_id)
        delivery = await deliver(state, client, sent["shop"], sent["topic"], sent["payload"], webhook_id)
        return JSONResponse({"delivery": delivery})

    @router.get("/deliveries")
    async def deliveries() -> JSONResponse:
        with state.lock:
            return JSONResponse({"deliveries": [{k: v for k, v in d.items()} for d in state.shopify_deliveries]})

    return router

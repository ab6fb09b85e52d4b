"""A stand-in for a WooCommerce store's webhooks: orders made and changed here reach Aftercare as WooCommerce
would deliver them.

Each delivery is what `WC_Webhook::deliver` sends: a POST of the REST API v3 order as `wp_json_encode` writes
it (compact, `/` escaped as `\\/`, non-ASCII as `\\uXXXX`), with `X-WC-Webhook-Source` (the site's home
URL), `-Topic`, `-Resource`, `-Event`, `-Signature` (base64 HMAC-SHA256 of the body with the webhook's
secret), `-ID` and `-Delivery-ID` (a hash of the webhook id and the current second, as WooCommerce makes it:
two deliveries of one webhook in the same second share it). A ping is `webhook_id=<id>`, form-encoded,
with none of those headers. WooCommerce does not retry a failed delivery; neither does this.

Controls, under `/_sandbox/woocommerce/`: `POST configure` (delivery URL, secret, site), `POST ping`,
`POST orders` (make an order: `order.created`), `POST orders/{id}` (change its status or refund it:
`order.updated`), `GET orders/{id}`, `GET deliveries`. The delivery URL defaults to the Aftercare API next to
the carrier webhook URL: `{api}/v1/webhooks/woocommerce`. The secret comes from
`AFTERCARE_SANDBOX_WOOCOMMERCE_SECRET` (default `sandbox-woocommerce-secret`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sandbox.state import SandboxState, utcnow

WC_VERSION, WP_VERSION = "8.9.3", "6.5.3"
USER_AGENT = f"WooCommerce/{WC_VERSION} Hookshot (WordPress/{WP_VERSION})"
DEFAULT_SECRET = "sandbox-woocommerce-secret"
DEFAULT_SITE = "https://woo.aftercare-demo.test/"
WEBHOOK_ID = 7  # each topic is its own webhook in WooCommerce: created 7, updated 8


class Configure(BaseModel):
    delivery_url: str | None = Field(
        default=None, description="where deliveries go; default {api}/v1/webhooks/woocommerce"
    )
    secret: str | None = Field(default=None, min_length=1, description="the webhook's secret")
    site: str | None = Field(default=None, description="the store's home URL, sent as X-WC-Webhook-Source")


class NewLine(BaseModel):
    name: str = "Ceramic Mug"
    sku: str = "MUG-1"
    quantity: int = Field(default=1, ge=1)
    price: Decimal = Field(default=Decimal("20.00"), ge=0, max_digits=12, decimal_places=2)


class NewOrder(BaseModel):
    """An order as a customer checks out; what is left out is filled in as a typical store would."""

    status: str = "processing"
    currency: str = "USD"
    customer_id: int = 0
    billing: dict[str, Any] = Field(default_factory=dict, description="merged onto a US customer with email and phone")
    shipping: dict[str, Any] | None = None
    line_items: list[NewLine] = Field(default_factory=lambda: [NewLine()], min_length=1, max_length=50)
    shipping_total: Decimal = Field(default=Decimal("5.00"), ge=0, max_digits=12, decimal_places=2)
    payment_method: str = "stripe"
    stripe_intent_id: str | None = Field(
        default=None, description="a PaymentIntent made at the sandbox's Stripe, for refunds; default: a made-up pi_"
    )
    date_created_gmt: str | None = Field(default=None, description="backdate it (an import): 2026-11-01T10:00:00")


class Refund(BaseModel):
    amount: Decimal = Field(gt=0, max_digits=12, decimal_places=2)
    reason: str = ""


class OrderChange(BaseModel):
    status: str | None = None
    refund: Refund | None = None
    billing: dict[str, Any] | None = None


def sign(body: bytes, secret: str) -> str:
    """WooCommerce's `X-WC-Webhook-Signature`: base64 of HMAC-SHA256 of the body with the secret."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def wp_json(data: Any) -> bytes:
    """`wp_json_encode` as WooCommerce calls it: compact, ASCII-only, slashes escaped."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).replace("/", "\\/").encode()


def _gmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter(prefix="/_sandbox/woocommerce", tags=["sandbox"])
    wc = state.woocommerce

    def config() -> dict[str, str]:
        api = urlsplit(state.webhook_url)
        default_url = f"{api.scheme}://{api.netloc}/v1/webhooks/woocommerce"
        return {
            "delivery_url": wc.get("delivery_url") or default_url,
            "secret": wc.get("secret") or os.environ.get("AFTERCARE_SANDBOX_WOOCOMMERCE_SECRET") or DEFAULT_SECRET,
            "site": wc.get("site") or DEFAULT_SITE,
        }

    async def post(body: bytes, headers: dict[str, str], what: str) -> dict[str, Any]:
        record: dict[str, Any] = {"what": what, "at": utcnow().isoformat(), "url": config()["delivery_url"]}
        record["delivery_id"] = headers.get("X-WC-Webhook-Delivery-ID")
        try:
            resp = await client.post(record["url"], content=body, headers=headers, timeout=state.webhook_timeout)
            record |= {"status_code": resp.status_code, "response": resp.text[:300]}
        except httpx.HTTPError as exc:
            record |= {"status_code": None, "response": repr(exc)}
        with state.lock:
            wc.setdefault("deliveries", []).append(record)
        return record

    async def deliver(order: dict[str, Any], event: str) -> dict[str, Any]:
        cfg = config()
        webhook_id = WEBHOOK_ID if event == "created" else WEBHOOK_ID + 1
        body = wp_json(order)
        second = int(utcnow().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-WC-Webhook-Source": cfg["site"],
            "X-WC-Webhook-Topic": f"order.{event}",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(body, cfg["secret"]),
            "X-WC-Webhook-ID": str(webhook_id),
            "X-WC-Webhook-Delivery-ID": hashlib.md5(
                f"{webhook_id}{second}".encode(), usedforsecurity=False
            ).hexdigest(),
        }
        return await post(body, headers, f"order.{event} #{order['id']}")

    def make_order(req: NewOrder) -> dict[str, Any]:
        now = utcnow()
        with state.lock:
            order_id = wc["next_id"] = wc.get("next_id", 1000) + 1
        created = req.date_created_gmt or _gmt(now)
        billing = {
            "first_name": "Ada", "last_name": "Lovelace", "company": "", "address_1": "12 Analytical Way",
            "address_2": "", "city": "New York", "state": "NY", "postcode": "10001", "country": "US",
            "email": "ada@example.com", "phone": "(212) 555-0142",
        } | req.billing  # fmt: skip
        shipping = req.shipping or {k: v for k, v in billing.items() if k != "email"}
        lines, subtotal = [], Decimal(0)
        for n, line in enumerate(req.line_items):
            price = line.price
            total = price * line.quantity
            subtotal += total
            lines.append({
                "id": order_id * 10 + n, "name": line.name, "product_id": 90 + n, "variation_id": 0,
                "quantity": line.quantity, "tax_class": "", "subtotal": _money(total), "subtotal_tax": "0.00",
                "total": _money(total), "total_tax": "0.00", "taxes": [], "meta_data": [], "sku": line.sku,
                "price": float(price), "image": {"id": "", "src": ""}, "parent_name": None,
            })  # fmt: skip
        stripe = req.payment_method == "stripe"
        intent = (
            req.stripe_intent_id or f"pi_sandbox{order_id}{hashlib.sha256(str(order_id).encode()).hexdigest()[:12]}"
        )
        meta = [{"id": order_id * 100 + 1, "key": "_stripe_intent_id", "value": intent}] if stripe else []
        return {
            "id": order_id, "parent_id": 0, "number": str(order_id), "order_key": f"wc_order_sbx{order_id}",
            "created_via": "checkout", "version": WC_VERSION, "status": req.status, "currency": req.currency,
            "date_created": created, "date_created_gmt": created, "date_modified": _gmt(now),
            "date_modified_gmt": _gmt(now), "discount_total": "0.00", "discount_tax": "0.00",
            "shipping_total": _money(req.shipping_total), "shipping_tax": "0.00", "cart_tax": "0.00",
            "total": _money(subtotal + req.shipping_total), "total_tax": "0.00", "prices_include_tax": False,
            "customer_id": req.customer_id, "customer_ip_address": "", "customer_user_agent": "", "customer_note": "",
            "billing": billing, "shipping": shipping, "payment_method": req.payment_method,
            "payment_method_title": "Credit Card (Stripe)" if stripe else req.payment_method,
            "transaction_id": f"ch_sandbox{order_id}" if stripe else "",
            "date_paid": _gmt(now), "date_paid_gmt": _gmt(now), "date_completed": None, "date_completed_gmt": None,
            "cart_hash": "", "meta_data": meta, "line_items": lines, "tax_lines": [],
            "shipping_lines": [{"id": order_id * 10 + 9, "method_title": "Flat rate", "method_id": "flat_rate",
                                "total": _money(req.shipping_total), "total_tax": "0.00", "taxes": [],
                                "meta_data": []}],
            "fee_lines": [], "coupon_lines": [], "refunds": [], "currency_symbol": "$",
            "_links": {"self": [{"href": f"{config()['site']}wp-json/wc/v3/orders/{order_id}"}]},
        }  # fmt: skip

    @router.post("/configure")
    async def configure(body: Configure) -> JSONResponse:
        with state.lock:
            wc.update({k: v for k, v in body.model_dump().items() if v is not None})
        cfg = config()
        return JSONResponse({"delivery_url": cfg["delivery_url"], "site": cfg["site"]})

    @router.post("/ping")
    async def ping() -> JSONResponse:
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/x-www-form-urlencoded"}
        return JSONResponse(await post(f"webhook_id={WEBHOOK_ID}".encode(), headers, "ping"))

    @router.post("/orders")
    async def create(body: NewOrder) -> JSONResponse:
        order = make_order(body)
        with state.lock:
            wc.setdefault("orders", {})[str(order["id"])] = order
        return JSONResponse({"order": order, "delivery": await deliver(order, "created")})

    @router.get("/orders/{order_id}")
    async def show(order_id: str) -> JSONResponse:
        order = wc.get("orders", {}).get(order_id)
        if order is None:
            return JSONResponse({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}, 404)
        return JSONResponse(order)

    @router.post("/orders/{order_id}")
    async def change(order_id: str, body: OrderChange) -> JSONResponse:
        order = wc.get("orders", {}).get(order_id)
        if order is None:
            return JSONResponse({"code": "woocommerce_rest_shop_order_invalid_id", "message": "Invalid ID."}, 404)
        with state.lock:
            if body.billing:
                order["billing"] = order["billing"] | body.billing
            if body.refund is not None:
                with_refund = [{"id": order["id"] * 10 + 100 + len(order["refunds"]), "reason": body.refund.reason,
                                "total": "-" + _money(body.refund.amount)}]  # fmt: skip
                order["refunds"] = with_refund + order["refunds"]  # newest first, as WooCommerce lists them
                given = sum(-Decimal(r["total"]) for r in order["refunds"])
                if given >= Decimal(order["total"]):
                    order["status"] = "refunded"  # WooCommerce marks a fully refunded order so
            if body.status:
                order["status"] = body.status
            order["date_modified"] = order["date_modified_gmt"] = _gmt(utcnow())
        return JSONResponse({"order": order, "delivery": await deliver(order, "updated")})

    @router.get("/deliveries")
    async def deliveries() -> JSONResponse:
        return JSONResponse(wc.get("deliveries", []))

    return router

"""Shopify's webhook bodies -> our `domain.stores` events. Pure: no HTTP, no clock.

Lenient where a journey can do without (an invalid phone or email is left out, a tracking URL that is no web
address is dropped, a line item without SKU is known by its variant); strict where it cannot (an order's id,
currency, price, its items): those raise a WebhookError naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from connectors.stores.base import WebhookError
from connectors.stores.regions import customer_timezone
from connectors.stores.shopify import models as m
from connectors.stores.shopify.units import map_fulfillment_status, map_shipment_status
from domain import Address, Customer, LineItem, Order, PaymentRef, Shipment, check_locale, currency_exponent
from domain.carriers import carrier_slug
from domain.stores import FulfillmentChanged, OrderCancelled, OrderPaid, OrderPlaced, OrderUpdated, StoreRefund

PROVIDER = "shopify"
"""The tracking provider a parcel has when the merchant tracks through Shopify's own fulfillment events."""
UNKNOWN_COUNTRY = "ZZ"  # CLDR's "unknown region": an order with no address at all (a digital or draft order)
NO_CURRENCY = "XXX"  # ISO 4217 "no currency": a refund that names none; the API puts the order's in
PAYMENT_ATTRIBUTES = frozenset({"stripe_payment_intent", "stripe_payment_intent_id", "payment_intent"})
"""Note attributes a checkout integration may leave the Stripe PaymentIntent in (`pi_...`), for refunds."""

_E164 = re.compile(r"\+[1-9]\d{6,14}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")
_TRACKING = re.compile(r"[A-Za-z0-9-]{4,64}")

M = TypeVar("M", bound=BaseModel)


def parse_model(model: type[M], data: dict[str, Any], topic: str) -> M:
    """`data` as a Shopify `model`, or a WebhookError naming each field that is wrong (never its value)."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise WebhookError(f"{topic}: not a Shopify {model.__name__}: {describe(exc)}") from None


def describe(exc: ValidationError, limit: int = 5) -> str:
    """`line_items.0.price: Input should be a valid decimal; ...`: where and what, not the value."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:limit]]
    more = len(exc.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


# --- orders ------------------------------------------------------------------------------------------


def order_event(
    topic: str, data: dict[str, Any], merchant_id: str
) -> OrderPlaced | OrderUpdated | OrderPaid | OrderCancelled:
    """What an orders/* webhook means: a placement, an update, a payment or a cancellation."""
    shopify = parse_model(m.Order, data, topic)
    order_id = str(shopify.id)
    if topic == "orders/paid":
        return OrderPaid(order_id=order_id)
    if topic == "orders/cancelled":
        return OrderCancelled(
            order_id=order_id, reason=(shopify.cancel_reason or None) and shopify.cancel_reason[:64],
            cancelled_at=shopify.cancelled_at,
        )  # fmt: skip
    order = to_order(shopify, merchant_id, topic)
    if topic == "orders/create":
        return OrderPlaced(order=order, updated_at=shopify.updated_at)
    return OrderUpdated(order=order, updated_at=shopify.updated_at)


def to_order(shopify: m.Order, merchant_id: str, topic: str = "order") -> Order:
    """Our Order: line items with their variants and properties, the customer with consent and time zone, the
    shipping address, the total the customer paid (after discounts, with taxes and shipping)."""
    placed_at = shopify.created_at or shopify.processed_at
    if placed_at is None:
        raise WebhookError(f"{topic}: created_at is missing; Shopify sends when the order was placed")
    currency = shopify.currency.upper()
    address = shopify.shipping_address or shopify.billing_address
    items = [_line_item(li, currency) for li in shopify.line_items if li.quantity > 0]
    if not items:
        raise WebhookError(f"{topic}: line_items: the order has no line item with a quantity; nothing to follow")
    try:
        return Order(
            merchant_id=merchant_id,
            order_id=str(shopify.id),
            number=(shopify.name or "")[:64] or None,
            placed_at=placed_at,
            currency=currency,
            total=shopify.total_price,
            customer=_customer(shopify, address),
            shipping_address=_address(address),
            items=items,
            tags=_tags(shopify.tags),
            payment=_payment(shopify.note_attributes or []),
        )
    except ValidationError as exc:
        raise WebhookError(f"{topic}: {describe(exc)}") from None


def _line_item(li: m.LineItem, currency: str) -> LineItem:
    """SKU (or the variant, for products without one), title with variant and properties, and the unit price
    after the line's discount."""
    sku = (li.sku or "").strip() or (f"variant-{li.variant_id}" if li.variant_id else f"line-{li.id}")
    title = (li.title or li.name or sku).strip()
    if li.variant_title and li.variant_title.strip() and li.variant_title.strip() not in title:
        title = f"{title} - {li.variant_title.strip()}"
    extras = [f"{p.name}: {p.value}" for p in li.properties or [] if p.name and not p.name.startswith("_") and p.value]
    if extras:
        title = f"{title} ({', '.join(extras)})"
    unit = li.price - (li.total_discount or Decimal(0)) / li.quantity
    step = Decimal(1).scaleb(-currency_exponent(currency))
    return LineItem(
        id=str(li.id),
        sku=sku[:128],
        name=title[:500],
        quantity=li.quantity,
        unit_price=max(unit, Decimal(0)).quantize(step, rounding=ROUND_HALF_UP),
    )


def _customer(shopify: m.Order, address: m.Address | None) -> Customer:
    buyer = shopify.customer
    email = _email(shopify.email, shopify.contact_email, buyer.email if buyer else None)
    phone = _phone(shopify.phone, buyer.phone if buyer else None)
    first = (buyer.first_name if buyer else None) or (address.first_name if address else None)
    last = (buyer.last_name if buyer else None) or (address.last_name if address else None)
    return Customer(
        id=f"{buyer.id}" if buyer else f"guest-{shopify.id}",
        first_name=first[:200] if first else None,
        last_name=last[:200] if last else None,
        email=email,
        phone=phone,
        locale=_locale(shopify.customer_locale),
        timezone=customer_timezone(address.country_code, address.province_code) if address else None,
        marketing_consent=marketing_consent(shopify),
    )


def marketing_consent(shopify: m.Order) -> bool:
    """The customer's own consent where Shopify sends it (`email_marketing_consent` / `sms_marketing_consent`
    state `subscribed`); else the order's `buyer_accepts_marketing` (the checkout's box)."""
    buyer = shopify.customer
    given = [c for c in (buyer.email_marketing_consent, buyer.sms_marketing_consent) if c and c.state] if buyer else []
    if given:
        return any(c.state == "subscribed" for c in given)
    if shopify.buyer_accepts_marketing is not None:
        return shopify.buyer_accepts_marketing
    return bool(buyer and buyer.accepts_marketing)


def _email(*candidates: str | None) -> str | None:
    for value in candidates:
        if value and len(value) <= 254 and _EMAIL.fullmatch(value.strip()):
            return value.strip()
    return None


def _phone(*candidates: str | None) -> str | None:
    for value in candidates:
        digits = re.sub(r"[\s().-]", "", value or "")
        if _E164.fullmatch(digits):
            return digits
    return None


def _locale(value: str | None) -> str | None:
    try:
        return check_locale(value) if value else None
    except ValueError:
        return None


def _address(address: m.Address | None) -> Address:
    if address is None:
        return Address(country=UNKNOWN_COUNTRY)
    name = address.name or " ".join(n for n in (address.first_name, address.last_name) if n) or None
    country = (address.country_code or "").strip()
    region = address.province_code or address.province
    return Address(
        name=name[:200] if name else None,
        line1=(address.address1 or None) and address.address1[:200],
        line2=(address.address2 or None) and address.address2[:200],
        city=(address.city or None) and address.city[:100],
        region=region[:100] if region else None,
        postal_code=(address.zip or None) and address.zip[:20],
        country=country if re.fullmatch(r"[A-Za-z]{2}", country) else UNKNOWN_COUNTRY,
    )  # fmt: skip


def _tags(tags: str | None) -> list[str]:
    return [t.strip()[:64] for t in (tags or "").split(",") if t.strip()][:50]


def _payment(attributes: Iterable[m.NoteAttribute]) -> PaymentRef | None:
    for attribute in attributes:
        value = str(attribute.value or "").strip()
        if attribute.name.strip().lower() in PAYMENT_ATTRIBUTES and value.startswith("pi_") and len(value) <= 255:
            return PaymentRef(provider="stripe", reference=value)
    return None


# --- fulfillments ------------------------------------------------------------------------------------


def fulfillment_event(topic: str, data: dict[str, Any]) -> FulfillmentChanged:
    """A parcel: its carrier (Shopify's `tracking_company`, by our slug), its first tracking number, and only the
    line items it holds (partial fulfillments are normal). No usable tracking number: recorded, not tracked."""
    shopify = parse_model(m.Fulfillment, data, topic)
    numbers = [*(shopify.tracking_numbers or []), *([shopify.tracking_number] if shopify.tracking_number else [])]
    number = next((n.replace(" ", "") for n in numbers if n and _TRACKING.fullmatch(n.replace(" ", ""))), None)
    shipment = None
    if number is not None:
        items: dict[str, int] = {}
        for li in shopify.line_items:
            if li.quantity > 0:
                items[str(li.id)] = items.get(str(li.id), 0) + li.quantity
        slug = carrier_slug(shopify.tracking_company)
        shipment = Shipment(
            carrier=slug if len(slug) >= 2 else "other",
            provider=PROVIDER,
            tracking_number=number,
            items=items,
            shipped_at=shopify.created_at,
            tracking_url=_web_link([*(shopify.tracking_urls or []), shopify.tracking_url]),
        )
    return FulfillmentChanged(
        order_id=str(shopify.order_id),
        fulfillment_id=str(shopify.id),
        status=map_fulfillment_status(shopify.status),
        shipment=shipment,
        shipment_status=map_shipment_status(shopify.shipment_status),
        updated_at=shopify.updated_at or shopify.created_at,
    )


def _web_link(urls: Iterable[str | None]) -> str | None:
    """The first tracking URL that is a web address (it becomes a button in an email)."""
    for url in urls:
        if not url:
            continue
        try:
            return Shipment(carrier="xx", tracking_number="0000", tracking_url=url).tracking_url
        except ValidationError:
            continue
    return None


# --- refunds -----------------------------------------------------------------------------------------


def refund_event(topic: str, data: dict[str, Any]) -> StoreRefund:
    """Which line items were refunded (and how many), and how much money went back: the refund's successful
    transactions, or (none sent) its lines, taxes and adjustments. A refund of shipping alone names no item."""
    shopify = parse_model(m.Refund, data, topic)
    items: dict[str, int] = {}
    for line in shopify.refund_line_items:
        if line.quantity > 0:
            items[str(line.line_item_id)] = items.get(str(line.line_item_id), 0) + line.quantity
    refunds = [t for t in shopify.transactions if t.kind == "refund" and t.status in ("success", "pending", None)]
    if refunds:
        amount = sum((t.amount or Decimal(0) for t in refunds), Decimal(0))
    else:
        lines = sum(
            ((li.subtotal or Decimal(0)) + (li.total_tax or Decimal(0)) for li in shopify.refund_line_items), Decimal(0)
        )
        adjusted = sum(
            (-(a.amount or Decimal(0)) - (a.tax_amount or Decimal(0)) for a in shopify.order_adjustments), Decimal(0)
        )
        amount = max(lines + adjusted, Decimal(0))
    currency = next((t.currency.upper() for t in refunds if t.currency and len(t.currency) == 3), NO_CURRENCY)
    return StoreRefund(
        order_id=str(shopify.order_id),
        refund_id=str(shopify.id),
        items=items,
        amount=amount,
        currency=currency,
        created_at=shopify.created_at or shopify.processed_at,
    )


def order_updated_at(event: object) -> datetime | None:
    """The store's own time of the order change an event carries (to tell an old update from a new one)."""
    return getattr(event, "updated_at", None) if isinstance(event, OrderPlaced | OrderUpdated) else None

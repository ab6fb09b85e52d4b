"""WooCommerce's order (REST API v3, as a webhook delivers it) in our words: an `Order` and the store events.

Pure: no HTTP, no clock. Lenient where the store's data is odd but the order is still usable (an email that
is not one, a phone we cannot read as E.164, a SKU left empty); a clear `WooCommerceWebhookError` naming the
field where it is not (no id, no creation date, no country, no line items).
"""

from __future__ import annotations

import hashlib
import html
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

import phonenumbers
from pydantic import EmailStr, TypeAdapter, ValidationError

from connectors.stores.regions import customer_timezone
from connectors.stores.woocommerce import models
from connectors.stores.woocommerce.error import unusable
from connectors.stores.woocommerce.units import (
    STRIPE_INTENT_META,
    STRIPE_INTENT_PREFIX,
    Standing,
    Topic,
    standing,
)
from domain import Order, PaymentRef
from domain.payments import currency_exponent
from domain.stores import OrderCancelled, OrderPlaced, OrderUpdated, StoreEvent, StoreRefund

_EMAIL: TypeAdapter[str] = TypeAdapter(EmailStr)


def events(topic: Topic, wc: models.Order, merchant_id: str) -> list[StoreEvent]:
    """What an `order.created` / `order.updated` delivery tells the journey.

    A live order is placed (or updated, for `order.updated`: an update of an order we never saw starts its
    journey). Every refund on the order comes as a `StoreRefund`, every time: WooCommerce sends the whole
    order, not what changed, so the receiver keeps the refund ids it has seen and acts on new ones only.
    An order not yet paid for (pending, failed) or binned tells nothing; a cancelled one ends its journey.
    """
    order_id = _order_id(wc)
    updated_at = _time(wc.date_modified_gmt)
    match standing(wc.status):
        case Standing.NOT_YET | Standing.GONE:
            return []
        case Standing.CANCELLED:
            if topic is Topic.ORDER_CREATED:
                return []  # created cancelled (an import): no journey to end
            return [OrderCancelled(order_id=order_id, cancelled_at=updated_at)]
    order = to_order(wc, merchant_id)
    placed: StoreEvent
    if topic is Topic.ORDER_CREATED:
        placed = OrderPlaced(order=order, updated_at=updated_at)
    else:
        placed = OrderUpdated(order=order, updated_at=updated_at)
    return [placed, *refunds(wc, order)]


def refunds(wc: models.Order, order: Order) -> list[StoreEvent]:
    """The order's refunds. The order's `refunds` list names no items: a partial refund touches none we can
    name; when the status is `refunded` (all of it given back) the latest refund covers every item."""
    found = [r for r in wc.refunds if r.id is not None and r.id > 0]
    last = max((r.id for r in found if r.id is not None), default=None)
    whole = (wc.status or "").strip().lower() == "refunded"
    out: list[StoreEvent] = []
    for refund in found:
        items = {i.id: i.quantity for i in order.items} if whole and refund.id == last else {}
        amount = abs(_decimal(refund.total, "refunds[].total") or Decimal(0))
        out.append(
            StoreRefund(
                order_id=order.order_id,
                refund_id=str(refund.id),
                items=items,
                amount=amount,
                currency=order.currency,
            )
        )
    return out


def to_order(wc: models.Order, merchant_id: str) -> Order:
    """Our `Order` from WooCommerce's; `WooCommerceWebhookError` naming the fields it cannot do without."""
    billing, shipping = wc.billing or models.Billing(), wc.shipping or models.Shipping()
    currency = (wc.currency or "").strip().upper()
    if not currency:
        raise unusable("currency is missing")
    if not wc.date_created_gmt:
        raise unusable("date_created_gmt is missing")
    placed_at = _time(wc.date_created_gmt)
    if placed_at is None:
        raise unusable("date_created_gmt is not a date-time like 2017-03-22T19:28:02")
    address = _address(shipping, billing)
    data: dict[str, Any] = {
        "merchant_id": merchant_id,
        "order_id": _order_id(wc),
        "number": (wc.number or "")[:64] or None,
        "placed_at": placed_at,
        "currency": currency,
        "total": _decimal(wc.total, "total"),
        "customer": _customer(wc, billing, shipping, address["country"]),
        "shipping_address": address,
        "items": _items(wc, currency),
        "payment": _payment(wc),
    }
    try:
        return Order.model_validate(data)
    except ValidationError as err:  # the store sent something an order cannot hold: name it (not its value)
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors())
        raise unusable(f"the order cannot be used: {problems}") from None


def _order_id(wc: models.Order) -> str:
    if wc.id is None or wc.id <= 0:
        raise unusable("id is missing: not a WooCommerce order")
    return str(wc.id)


def _customer(wc: models.Order, billing: models.Billing, shipping: models.Shipping, country: str) -> dict[str, Any]:
    email = _email(billing.email)
    if wc.customer_id:
        customer_id = str(wc.customer_id)
    elif email:  # a guest: the same address is the same customer across orders (caps count per customer)
        customer_id = "guest-" + hashlib.sha256(email.lower().encode()).hexdigest()[:24]
    else:
        customer_id = f"guest-order-{wc.id}"
    where = shipping if shipping.country else billing
    return {
        "id": customer_id,
        "first_name": _text(billing.first_name or shipping.first_name, 200),
        "last_name": _text(billing.last_name or shipping.last_name, 200),
        "email": email,
        "phone": _phone(billing.phone or shipping.phone, country),
        "timezone": customer_timezone(where.country, where.state),
    }


def _address(shipping: models.Shipping, billing: models.Billing) -> dict[str, Any]:
    """Where the parcel goes; an order with nothing to ship (downloads) has only its billing address."""
    src: models.Shipping | models.Billing = shipping if (shipping.country or "").strip() else billing
    country = (src.country or "").strip().upper()
    if not country:
        raise unusable("shipping.country and billing.country are both empty: the order names no country")
    name = " ".join(p for p in ((src.first_name or "").strip(), (src.last_name or "").strip()) if p)
    return {
        "name": _text(name, 200),
        "line1": _text(src.address_1, 200),
        "line2": _text(src.address_2, 200),
        "city": _text(src.city, 100),
        "region": _text(src.state, 100),
        "postal_code": _text(src.postcode, 20),
        "country": country,
    }


def _items(wc: models.Order, currency: str) -> list[dict[str, Any]]:
    if not wc.line_items:
        raise unusable("line_items is empty: the order has nothing in it")
    exponent = Decimal(1).scaleb(-currency_exponent(currency))
    items: list[dict[str, Any]] = []
    for index, line in enumerate(wc.line_items):
        if line.id is None or not line.quantity or line.quantity < 1:
            continue  # a line with nothing to send (quantity 0 after an edit)
        price = _decimal(line.price, f"line_items[{index}].price")
        if price is None:  # older stores: the line total over its quantity
            price = (_decimal(line.total, f"line_items[{index}].total") or Decimal(0)) / line.quantity
        items.append(
            {
                "id": str(line.id),
                "sku": _sku(line),
                "name": _text(html.unescape(line.name or ""), 500) or _sku(line),
                "quantity": line.quantity,
                "unit_price": max(price, Decimal(0)).quantize(exponent, rounding=ROUND_HALF_UP),
            }
        )
    if not items:
        raise unusable("line_items has no line with an id and a quantity of 1 or more")
    return items


def _sku(line: models.LineItem) -> str:
    """The product's SKU; a product without one (WooCommerce allows it) is named by its product and variation."""
    sku = (line.sku or "").strip()
    if sku:
        return sku[:128]
    if line.product_id:
        return f"wc-product-{line.product_id}" + (f"-{line.variation_id}" if line.variation_id else "")
    return f"wc-item-{line.id}"


def _payment(wc: models.Order) -> PaymentRef | None:
    """The Stripe PaymentIntent behind the order, for refunds: the Stripe gateway's meta, else a `pi_`
    transaction id (some gateways store the intent there)."""
    for candidate in (wc.meta(STRIPE_INTENT_META), wc.transaction_id):
        if isinstance(candidate, str) and candidate.startswith(STRIPE_INTENT_PREFIX) and 3 <= len(candidate) <= 255:
            return PaymentRef(provider="stripe", reference=candidate)
    return None


def _email(value: str | None) -> str | None:
    text = (value or "").strip()
    if not text:
        return None
    try:
        return _EMAIL.validate_python(text)
    except ValidationError:
        return None  # not an address we can send to: the email steps skip it with no_address


def _phone(value: str | None, country: str) -> str | None:
    """As E.164, read the way the customer typed it in their country ("(555) 555-0100" in the US)."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, country or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _time(value: str | None) -> datetime | None:
    """A WooCommerce `_gmt` time: ISO 8601 with no offset, meaning UTC."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _decimal(value: str | float | None, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise unusable(f"{field} is not a number") from None
    if not number.is_finite():
        raise unusable(f"{field} is not a number")
    return number


def _text(value: str | None, limit: int) -> str | None:
    text = (value or "").strip()
    return text[:limit] or None

"""Typed models of the Shopify REST webhook bodies we read: Order (orders/create, orders/updated, orders/paid,
orders/cancelled), Fulfillment (fulfillments/create, fulfillments/update) and Refund (refunds/create).

Field names are Shopify's own (shopify.dev REST Admin API "Order", "Fulfillment", "Refund" and the webhook
topics' example payloads). Ids are 64-bit integers; money is decimal text ("199.00"), except a refund line
item's `subtotal`, which Shopify sends as a JSON number. Unknown fields are kept (`extra="allow"`): Shopify adds
fields with every API version. What a journey cannot do without (an order's id, currency and price, a line
item's id, quantity and price) is required; everything else is optional, and the mapper copes with its absence.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

ShopifyId = Annotated[int, Field(ge=1, lt=2**63)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), allow_inf_nan=False)]


class ShopifyModel(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)  # errors are logged: no personal data


class MoneyAmount(ShopifyModel):
    amount: Money
    currency_code: str | None = None


class MoneySet(ShopifyModel):
    """`*_set` fields: the amount in the shop's currency and in the one the customer paid in."""

    shop_money: MoneyAmount
    presentment_money: MoneyAmount | None = None


class Property(ShopifyModel):
    """A line item property the customer entered (an engraving, a gift note)."""

    name: str = Field(max_length=500)
    value: Any = None


class LineItem(ShopifyModel):
    id: ShopifyId
    sku: str | None = Field(default=None, max_length=500)
    title: str | None = Field(default=None, max_length=1000)
    name: str | None = Field(default=None, max_length=1000)
    variant_title: str | None = Field(default=None, max_length=1000)
    variant_id: int | None = None
    product_id: int | None = None
    quantity: int = Field(ge=0, le=1_000_000)
    price: Money
    total_discount: Money | None = None
    properties: list[Property] | None = Field(default=None, max_length=100)
    requires_shipping: bool | None = None


class Address(ShopifyModel):
    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    address1: str | None = None
    address2: str | None = None
    city: str | None = None
    province: str | None = None
    province_code: str | None = None
    zip: str | None = None
    country: str | None = None
    country_code: str | None = None
    phone: str | None = None


class MarketingConsent(ShopifyModel):
    """`email_marketing_consent` / `sms_marketing_consent`: state is subscribed, not_subscribed, pending,
    unsubscribed, redacted or invalid; opt_in_level single_opt_in, confirmed_opt_in or unknown."""

    state: str | None = None
    opt_in_level: str | None = None
    consent_updated_at: datetime | None = None


class Customer(ShopifyModel):
    id: ShopifyId
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_marketing_consent: MarketingConsent | None = None
    sms_marketing_consent: MarketingConsent | None = None
    accepts_marketing: bool | None = None  # deprecated by Shopify, still sent by older API versions


class NoteAttribute(ShopifyModel):
    name: str = Field(max_length=500)
    value: Any = None


class Order(ShopifyModel):
    id: ShopifyId
    name: str | None = Field(default=None, max_length=200)  # "#1001"
    email: str | None = None
    contact_email: str | None = None
    phone: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    processed_at: datetime | None = None
    currency: str = Field(min_length=3, max_length=3)
    total_price: Money
    subtotal_price: Money | None = None
    total_discounts: Money | None = None
    total_tax: Money | None = None
    total_shipping_price_set: MoneySet | None = None
    buyer_accepts_marketing: bool | None = None
    customer_locale: str | None = None
    customer: Customer | None = None
    line_items: list[LineItem] = Field(default_factory=list, max_length=500)
    shipping_address: Address | None = None
    billing_address: Address | None = None
    payment_gateway_names: list[str] | None = None
    note_attributes: list[NoteAttribute] | None = Field(default=None, max_length=200)
    financial_status: str | None = None
    fulfillment_status: str | None = None
    tags: str | None = None  # comma-separated, "tag1, tag2"
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None  # customer, fraud, inventory, declined, staff, other


class Fulfillment(ShopifyModel):
    """`status`: pending, open, success, cancelled, error, failure. `shipment_status`: what the carrier last
    said, through Shopify (label_printed, label_purchased, confirmed, in_transit, out_for_delivery,
    attempted_delivery, ready_for_pickup, delivered, failure...)."""

    id: ShopifyId
    order_id: ShopifyId
    status: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    tracking_company: str | None = Field(default=None, max_length=500)
    tracking_number: str | None = Field(default=None, max_length=500)
    tracking_numbers: list[str] | None = Field(default=None, max_length=100)
    tracking_url: str | None = Field(default=None, max_length=4000)
    tracking_urls: list[str] | None = Field(default=None, max_length=100)
    shipment_status: str | None = None
    line_items: list[LineItem] = Field(default_factory=list, max_length=500)
    name: str | None = None


class RefundLineItem(ShopifyModel):
    id: ShopifyId | None = None
    line_item_id: ShopifyId
    quantity: int = Field(ge=0, le=1_000_000)
    subtotal: Money | None = None  # a JSON number here, not text
    total_tax: Money | None = None
    restock_type: str | None = None  # no_restock, cancel, return, legacy_restock


class Transaction(ShopifyModel):
    """Money moved at the gateway; a refund's `kind` is `refund`, its `status` success, pending, failure..."""

    id: ShopifyId | None = None
    amount: Money | None = None
    kind: str | None = None
    status: str | None = None
    gateway: str | None = None
    currency: str | None = None
    authorization: str | None = None


class OrderAdjustment(ShopifyModel):
    """Money refunded that is no line item: `kind` shipping_refund or refund_discrepancy. `amount` is negative."""

    id: ShopifyId | None = None
    amount: Decimal | None = None
    tax_amount: Decimal | None = None
    kind: str | None = None
    reason: str | None = None


class Refund(ShopifyModel):
    id: ShopifyId
    order_id: ShopifyId
    created_at: datetime | None = None
    processed_at: datetime | None = None
    note: str | None = None
    restock: bool | None = None
    refund_line_items: list[RefundLineItem] = Field(default_factory=list, max_length=500)
    transactions: list[Transaction] = Field(default_factory=list, max_length=100)
    order_adjustments: list[OrderAdjustment] = Field(default_factory=list, max_length=100)

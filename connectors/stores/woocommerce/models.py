"""Typed models of the WooCommerce objects we read: the REST API v3 order a webhook delivers.

A webhook with topic `order.created` or `order.updated` carries the order exactly as
`GET /wp-json/wc/v3/orders/<id>` answers it (WooCommerce's `WC_Webhook::build_payload` asks its own REST
endpoint), so these name the fields of the REST API's "Order properties" (woocommerce-rest-api-docs,
wp-api-v3/_orders.md). Every field is optional and unknown ones are kept (`extra="allow"`): plugins add
fields and meta. Money is a decimal string ("29.35"), except a line item's `price`, which WooCommerce
sends as a JSON number (`"price": 12`). Times: `date_created` is the site's local time with no offset,
`date_created_gmt` the same moment in UTC, also with no offset; we read the `_gmt` ones.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MAX_LINES = 500  # line items, as an Order allows
MAX_META = 1000  # meta entries on the order or one line item
MAX_REFUNDS = 500

Money = str | int | float  # "10.00" mostly; `price` is a number


class MetaData(BaseModel):
    """One `meta_data` entry: `value` is whatever the plugin stored (text, number, list, object)."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)  # errors are logged: no PII

    id: int | None = None
    key: str | None = None
    value: Any = None


class _Address(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)  # errors are logged: no PII

    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    address_1: str | None = None
    address_2: str | None = None
    city: str | None = None
    state: str | None = None
    postcode: str | None = None
    country: str | None = None
    phone: str | None = None


class Billing(_Address):
    email: str | None = None


class Shipping(_Address):
    """The shipping address: as billing without email (WooCommerce 5.6+ adds `phone`)."""


class LineItem(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)  # errors are logged: no PII

    id: int | None = None
    name: str | None = None
    product_id: int | None = None
    variation_id: int | None = None
    quantity: int | None = None
    tax_class: str | None = None
    subtotal: Money | None = None
    subtotal_tax: Money | None = None
    total: Money | None = None
    total_tax: Money | None = None
    taxes: list[dict[str, Any]] = Field(default_factory=list)
    meta_data: list[MetaData] = Field(default_factory=list, max_length=MAX_META)
    sku: str | None = None
    price: Money | None = None


class Refund(BaseModel):
    """An entry of the order's `refunds`: the refund's id, reason and total, negative ("-10.00")."""

    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)  # errors are logged: no PII

    id: int | None = None
    reason: str | None = None
    total: Money | None = None


class Order(BaseModel):
    model_config = ConfigDict(extra="allow", hide_input_in_errors=True)  # errors are logged: no PII

    id: int | None = None
    parent_id: int | None = None
    number: str | None = None
    order_key: str | None = None
    created_via: str | None = None
    version: str | None = None
    status: str | None = None
    currency: str | None = None
    date_created: str | None = None
    date_created_gmt: str | None = None
    date_modified: str | None = None
    date_modified_gmt: str | None = None
    discount_total: Money | None = None
    discount_tax: Money | None = None
    shipping_total: Money | None = None
    shipping_tax: Money | None = None
    cart_tax: Money | None = None
    total: Money | None = None
    total_tax: Money | None = None
    prices_include_tax: bool | None = None
    customer_id: int | None = None
    customer_ip_address: str | None = None
    customer_user_agent: str | None = None
    customer_note: str | None = None
    billing: Billing | None = None
    shipping: Shipping | None = None
    payment_method: str | None = None
    payment_method_title: str | None = None
    transaction_id: str | None = None
    date_paid: str | None = None
    date_paid_gmt: str | None = None
    date_completed: str | None = None
    date_completed_gmt: str | None = None
    cart_hash: str | None = None
    meta_data: list[MetaData] = Field(default_factory=list, max_length=MAX_META)
    line_items: list[LineItem] = Field(default_factory=list, max_length=MAX_LINES)
    tax_lines: list[dict[str, Any]] = Field(default_factory=list)
    shipping_lines: list[dict[str, Any]] = Field(default_factory=list)
    fee_lines: list[dict[str, Any]] = Field(default_factory=list)
    coupon_lines: list[dict[str, Any]] = Field(default_factory=list)
    refunds: list[Refund] = Field(default_factory=list, max_length=MAX_REFUNDS)

    def meta(self, key: str) -> Any:
        """The value of the order's first meta entry named `key`, or None."""
        return next((m.value for m in self.meta_data if m.key == key), None)

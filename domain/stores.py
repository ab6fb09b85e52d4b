"""What a store's webhook tells us, in our words, whichever store sent it (Shopify, WooCommerce...).

A store connector (`connectors/stores/<platform>/`) verifies a delivery and maps its body onto one of these;
`api/routes/stores.py` acts on them the same way for every platform. Store ids are strings (Shopify's are
64-bit integers, WooCommerce's small ones: both kept as their decimal text).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.orders import Order
from domain.tracking import Shipment, TrackingStatus

_Id = Annotated[str, Field(min_length=1, max_length=128)]


class StorePlatform(StrEnum):
    SHOPIFY = "shopify"
    WOOCOMMERCE = "woocommerce"


class StoreDelivery(BaseModel):
    """One webhook delivery's envelope: who sent it, about what, and the id the store retries it under."""

    model_config = ConfigDict(extra="forbid")

    platform: StorePlatform
    shop: str = Field(min_length=1, max_length=255, description="shop domain or site URL host, lower case")
    topic: str = Field(min_length=1, max_length=64, description="the store's own topic, e.g. orders/create")
    delivery_id: str | None = Field(default=None, max_length=255, description="the same on every retry")


class OrderPlaced(BaseModel):
    """A new order (or one we have not seen yet: an `orders/updated` for an unknown order is a placement)."""

    kind: Literal["order_placed"] = "order_placed"
    order: Order
    updated_at: datetime | None = Field(default=None, description="the store's last change, to order updates")


class OrderUpdated(BaseModel):
    """What may change on an order we hold: consent and contact details; an older update changes nothing."""

    kind: Literal["order_updated"] = "order_updated"
    order: Order
    updated_at: datetime | None = None


class OrderCancelled(BaseModel):
    """Cancelled in the store's admin: the journey ends as support's cancel does, with no second refund."""

    kind: Literal["order_cancelled"] = "order_cancelled"
    order_id: _Id
    reason: str | None = Field(default=None, max_length=64)
    cancelled_at: datetime | None = None


class OrderPaid(BaseModel):
    kind: Literal["order_paid"] = "order_paid"
    order_id: _Id


class FulfillmentStatus(StrEnum):
    ACTIVE = "active"  # in the warehouse's hands or on its way
    CANCELLED = "cancelled"  # the parcel will not go: stop its tracking


class FulfillmentChanged(BaseModel):
    """A parcel of the order: created, updated (with the store's own shipment status) or cancelled.

    `shipment` is None when the store gave no tracking number: the fulfillment is recorded, not tracked.
    `shipment_status` is the store's own word on the parcel (Shopify's `shipment_status`), in ours: a
    merchant with no tracking provider tracks through the store alone."""

    kind: Literal["fulfillment"] = "fulfillment"
    order_id: _Id
    fulfillment_id: _Id
    status: FulfillmentStatus = FulfillmentStatus.ACTIVE
    shipment: Shipment | None = None
    shipment_status: TrackingStatus | None = None
    updated_at: datetime | None = None


class StoreRefund(BaseModel):
    """Money given back in the store's admin: a fact for the journey, not a request (no refund is made).

    `items` maps line item id -> quantity refunded; empty with a shipping amount = a shipping-only refund,
    which touches no item."""

    kind: Literal["store_refund"] = "store_refund"
    order_id: _Id
    refund_id: _Id
    items: dict[_Id, Annotated[int, Field(ge=1)]] = Field(default_factory=dict, max_length=500)
    amount: Decimal = Field(ge=0)
    currency: str = Field(min_length=3, max_length=3)
    created_at: datetime | None = None


StoreEvent = Annotated[
    OrderPlaced | OrderUpdated | OrderCancelled | OrderPaid | FulfillmentChanged | StoreRefund,
    Field(discriminator="kind"),
]

"""An order as Aftercare sees it: who bought what, where it goes, and what the customer agreed to."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator

from domain.payments import PaymentRef

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")


def _check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(f"{what} {value!r} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    return value


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors end up in logs: no PII

    name: str | None = None
    line1: str | None = None
    line2: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2, e.g. US")

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class Customer(BaseModel):
    """The buyer, with the channels they can be reached on and what they consented to."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors end up in logs: no PII

    id: str
    first_name: str | None = None
    last_name: str | None = None
    email: EmailStr | None = None
    phone: str | None = Field(default=None, description="E.164, e.g. +15551234567")
    locale: str | None = Field(default=None, description="e.g. en, de; falls back to the policy's")
    timezone: str | None = Field(default=None, description="IANA name; falls back to the policy's")
    marketing_consent: bool = False
    whatsapp_opt_in: bool = False

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        return _check_id(v, "customer id")

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\+[1-9]\d{6,14}", v):
            raise ValueError(f"phone {v!r} must be E.164: '+' then 7-15 digits, e.g. +15551234567")
        return v


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    sku: str
    name: str
    quantity: int = Field(ge=1)
    unit_price: Decimal = Field(ge=0)

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


class Order(BaseModel):
    """What the store sent us. Amounts are decimals in `currency`; times are timezone-aware."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors end up in logs: no PII

    merchant_id: str
    order_id: str
    placed_at: datetime
    currency: str = Field(min_length=3, max_length=3)
    total: Decimal = Field(ge=0)
    customer: Customer
    shipping_address: Address
    items: list[LineItem] = Field(min_length=1)
    tags: list[str] = Field(default_factory=list)
    payment: PaymentRef | None = Field(default=None, description="where the money sits; needed for refunds")

    @field_validator("merchant_id")
    @classmethod
    def _merchant(cls, v: str) -> str:
        return _check_id(v, "merchant id")

    @field_validator("order_id")
    @classmethod
    def _order(cls, v: str) -> str:
        return _check_id(v, "order id")

    @field_validator("placed_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("placed_at needs a timezone, e.g. 2026-11-22T10:00:00Z")
        return v

    @field_validator("items")
    @classmethod
    def _unique_items(cls, v: list[LineItem]) -> list[LineItem]:
        seen: set[str] = set()
        for item in v:
            if item.id in seen:
                raise ValueError(f"line item id {item.id!r} appears twice")
            seen.add(item.id)
        return v

    @property
    def workflow_id(self) -> str:
        return journey_id(self.merchant_id, self.order_id)

    def item(self, item_id: str) -> LineItem | None:
        return next((i for i in self.items if i.id == item_id), None)


# Neither merchant nor order ids may contain it, so the id splits back into exactly one pair.
ID_SEPARATOR = "~"


def journey_id(merchant_id: str, order_id: str) -> str:
    """The one workflow id of an order's journey: a duplicate webhook finds the running one, and no other
    (merchant, order) pair can produce it (`acme` + `eu-0aff` and `acme-eu` + `0aff` differ)."""
    return f"order{ID_SEPARATOR}{merchant_id}{ID_SEPARATOR}{order_id}"


def order_of_journey(workflow_id: str, merchant_id: str | None) -> str:
    """The order id a journey's workflow id names (either spelling; the old one needs its merchant)."""
    kind, sep, rest = workflow_id.partition(ID_SEPARATOR)
    if kind == "order" and sep:
        return rest.partition(ID_SEPARATOR)[2]
    return workflow_id.removeprefix(f"order-{merchant_id}-" if merchant_id else "order-")


def legacy_journey_id(merchant_id: str, order_id: str) -> str:
    """The id journeys started before 'tenant-ids' run under (ambiguous: only for finding those)."""
    return f"order-{merchant_id}-{order_id}"

"""An order as Aftercare sees it: who bought what, where it goes, and what the customer agreed to.

Everything the journey will need is bounded and checked here, so an order that could never run (a zone
the journey cannot load, a date its timers overflow on, a name larger than a message) is refused at
intake with the field named, instead of failing inside a workflow forever. The checks are pure and
deterministic (no clock): workflows decode these models from their histories. The check that needs the
clock, `placed_at` from 2000 to not in the future, is `check_received`, run by the API at intake.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Annotated

from babel.core import get_global
from babel.numbers import get_currency_precision
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, ValidationInfo, field_validator

from domain.payments import PaymentRef

_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

# Bounds on what one order may carry: generous for any real shop, small enough for any message or row.
MAX_AMOUNT = Decimal("1000000000")  # a billion in the order's currency
MAX_QUANTITY = 10_000
MAX_ITEMS = 500
MAX_TAGS = 50
EARLIEST_PLACED_AT = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_SLACK = timedelta(days=1)  # clocks differ; more than this ahead is a wrong date

Name = Annotated[str, Field(max_length=200)]
Line = Annotated[str, Field(max_length=200)]

# BCP 47 (RFC 5646) language tags as stores send them: language, optional script, region and variants
# (`en`, `de-CH`, `sr-Latn-RS`, `es-419`); '_' is read as '-' (some stores write `en_US`).
_LOCALE_RE = re.compile(
    r"^[a-zA-Z]{2,3}(-[a-zA-Z]{4})?(-(?:[a-zA-Z]{2}|\d{3}))?(-(?:[a-zA-Z\d]{5,8}|\d[a-zA-Z\d]{3}))*$"
)
MAX_LOCALE_LENGTH = 35  # RFC 5646 4.4.1: every tag of the forms above fits
_ZONE_RE = re.compile(r"^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$")
MAX_ZONE_LENGTH = 64  # the longest IANA name is 32 characters


def _current_currencies() -> dict[str, int]:
    """ISO 4217 codes some country tenders today, with their decimals (CLDR data, through Babel)."""
    codes = {
        code
        for history in get_global("territory_currencies").values()
        for code, _start, end, tender in history
        if end is None and tender
    }
    return {code: get_currency_precision(code) for code in sorted(codes)}


CURRENCY_DECIMALS: dict[str, int] = _current_currencies()


def _check_id(value: str, what: str) -> str:
    if not _ID_RE.match(value):
        raise ValueError(f"{what} {value[:160]!r} must be 1-128 characters of letters, digits, '.', '_', ':' or '-'")
    return value


def check_timezone(value: str) -> str:
    """An IANA zone name the journey can load (`Europe/Zurich`, `UTC`); shared with the policy schema."""
    shown = repr(value[:MAX_ZONE_LENGTH]) + ("..." if len(value) > MAX_ZONE_LENGTH else "")
    if len(value) <= MAX_ZONE_LENGTH and _ZONE_RE.match(value):
        try:
            zoneinfo.ZoneInfo(value)
            return value
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            pass
    raise ValueError(f"{shown} is not an IANA time zone; use a name such as Europe/Paris, America/New_York or UTC")


def check_locale(value: str) -> str:
    """A BCP 47 language tag (`en`, `de-CH`), at most 35 characters; `de_CH` is read as `de-CH`."""
    tag = value.replace("_", "-")
    if len(tag) <= MAX_LOCALE_LENGTH and _LOCALE_RE.match(tag):
        return tag
    shown = repr(value[:MAX_LOCALE_LENGTH]) + ("..." if len(value) > MAX_LOCALE_LENGTH else "")
    raise ValueError(f"{shown} is not a BCP 47 language tag; use one such as en, de or de-CH")


def check_currency(value: str) -> str:
    """Three letters, upper-cased. Whether it is in use is intake's check (`Order.check_received`): a journey
    decodes its order for months, and a currency can leave use meanwhile (HRK did in 2023)."""
    code = value.upper()
    if not re.fullmatch(r"[A-Z]{3}", code):
        raise ValueError(f"{value[:8]!r} is not an ISO 4217 code; use one such as EUR, USD or CHF")
    return code


def check_amount(value: Decimal, currency: str, what: str) -> None:
    """At most `currency`'s decimals (JPY none, EUR two, BHD three)."""
    decimals = CURRENCY_DECIMALS.get(currency)
    exponent = value.normalize().as_tuple().exponent
    if decimals is not None and isinstance(exponent, int) and -exponent > decimals:
        raise ValueError(f"{what} {value} has more decimals than {currency} allows ({decimals})")


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors end up in logs: no PII

    name: Name | None = None
    line1: Line | None = None
    line2: Line | None = None
    city: str | None = Field(default=None, max_length=100)
    region: str | None = Field(default=None, max_length=100)
    postal_code: str | None = Field(default=None, max_length=20)
    country: str = Field(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, e.g. US")

    @field_validator("country")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.upper()


class Customer(BaseModel):
    """The buyer, with the channels they can be reached on and what they consented to."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors end up in logs: no PII

    id: Annotated[str, AfterValidator(partial(_check_id, what="customer id"))]
    first_name: Name | None = None
    last_name: Name | None = None
    email: Annotated[EmailStr, Field(max_length=254)] | None = None
    phone: str | None = Field(default=None, max_length=16, description="E.164, e.g. +15551234567")
    locale: str | None = Field(default=None, description="BCP 47, e.g. en, de-CH; falls back to the policy's")
    timezone: str | None = Field(default=None, description="IANA name; falls back to the policy's")
    marketing_consent: bool = False
    whatsapp_opt_in: bool = False

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"\+[1-9]\d{6,14}", v):
            raise ValueError("phone must be E.164: '+' then 7-15 digits, e.g. +15551234567")
        return v

    @field_validator("locale")
    @classmethod
    def _locale(cls, v: str | None) -> str | None:
        return None if v is None else check_locale(v)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str | None) -> str | None:
        return None if v is None else check_timezone(v)


class LineItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)
    sku: str = Field(min_length=1, max_length=128)
    name: str = Field(min_length=1, max_length=500)
    quantity: int = Field(ge=1, le=MAX_QUANTITY)
    unit_price: Decimal = Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)

    @property
    def total(self) -> Decimal:
        return self.unit_price * self.quantity


class Order(BaseModel):
    """What the store sent us. Amounts are decimals in `currency`; times are timezone-aware."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # errors end up in logs: no PII

    merchant_id: Annotated[str, AfterValidator(partial(_check_id, what="merchant id"))]
    order_id: Annotated[str, AfterValidator(partial(_check_id, what="order id"))]
    number: str | None = Field(
        default=None,
        max_length=64,
        description="what the customer calls the order (Shopify's `#1001`, WooCommerce's number); none: order_id",
    )
    placed_at: datetime
    currency: str = Field(description="ISO 4217, e.g. EUR")
    total: Decimal = Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False)
    customer: Customer
    shipping_address: Address
    items: list[LineItem] = Field(min_length=1, max_length=MAX_ITEMS)
    tags: list[Annotated[str, Field(max_length=64)]] = Field(default_factory=list, max_length=MAX_TAGS)
    payment: PaymentRef | None = Field(default=None, description="where the money sits; needed for refunds")

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        return check_currency(v)

    @field_validator("placed_at")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None or v.utcoffset() is None:
            raise ValueError("placed_at needs a timezone, e.g. 2026-11-22T10:00:00Z")
        return v

    @field_validator("total")
    @classmethod
    def _total(cls, v: Decimal, info: ValidationInfo) -> Decimal:
        if "currency" in info.data:  # else the currency's own error says what is wrong
            check_amount(v, info.data["currency"], "total")
        return v

    def check_received(self, now: datetime) -> dict[str, str]:
        """Intake's checks of what changes with time, as {field: problem}: `placed_at` from 2000 to a day from
        `now` (a year-9999 order overflows the journey's timers), a currency in use today. Not validators:
        journeys decode their order for months after, and the test server's clock runs centuries ahead."""
        problems: dict[str, str] = {}
        if self.placed_at < EARLIEST_PLACED_AT:
            problems["placed_at"] = f"{self.placed_at.isoformat()} is before 2000; send when the order was placed"
        elif self.placed_at > now + FUTURE_SLACK:
            problems["placed_at"] = f"{self.placed_at.isoformat()} is in the future; send when the order was placed"
        if self.currency not in CURRENCY_DECIMALS:
            problems["currency"] = f"{self.currency!r} is not an ISO 4217 currency in use; use one such as EUR or USD"
        return problems

    @field_validator("items")
    @classmethod
    def _unique_items(cls, v: list[LineItem], info: ValidationInfo) -> list[LineItem]:
        seen: set[str] = set()
        for index, item in enumerate(v):
            if item.id in seen:
                raise ValueError(f"line item id {item.id!r} appears twice")
            seen.add(item.id)
            if "currency" in info.data:
                check_amount(item.unit_price, info.data["currency"], f"[{index}].unit_price")
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

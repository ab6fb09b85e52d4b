"""What support staff can ask of a running order, and what they get back: the Updates' contract.

Every request names its actor (from the API token) so the journey's history says who asked; every result
is what the person who asked sees. Pure data, imported by the journey, the API, the CLI and the console.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, Field

from domain import Actor, Channel, RefundReason, ReturnLabel

REFUND = "refund"
EXCHANGE = "exchange"
CANCEL = "cancel"
PAUSE = "pause_messages"
RESUME = "resume_messages"
OPT_OUT = "opt_out"
ADD_NOTE = "add_note"
ACTIONS: tuple[str, ...] = (REFUND, EXCHANGE, CANCEL, PAUSE, RESUME, OPT_OUT, ADD_NOTE)
"""The Update names on `OrderJourney`."""

REFUSED = "ActionRefused"
"""The ApplicationError type of a request the journey turns down (details: HTTP status and a code)."""
PROVIDER_FAILED = "ProviderFailed"
"""The ApplicationError type when the payment provider or carrier said no, or kept failing."""

_KEY = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:-]+$")
MAX_AMOUNT = Decimal("1000000000")  # a billion in the order's currency: past any order, inside Decimal's precision
"""The largest amount a refund may ask for (the journey then holds it to what was paid)."""
MAX_LINES = 100  # line items one request may name
ItemId = Annotated[str, Field(min_length=1, max_length=64)]
Quantity = Annotated[int, Field(ge=1, le=10_000)]

REFUND_HELD = frozenset({"succeeded", "pending", "unknown"})
"""Refund statuses that count against what is refundable: made, on its way, or not known yet (`unknown`: the
provider's answer was lost; it is looked up before anything else is refunded). `not_made` releases the amount."""


class Command(BaseModel):
    actor: Actor
    note: str = Field(default="", max_length=2000)


class RefundCommand(Command):
    """Refund the whole order (no `items`, no `amount`), chosen items with quantities, or an amount.

    `reason` is optional here only so that its absence is refused by the journey in plain words.
    """

    idempotency_key: str = _KEY
    reason: RefundReason | None = None
    items: dict[ItemId, Quantity] = Field(
        default_factory=dict, max_length=MAX_LINES, description="line item id -> quantity to refund"
    )
    amount: Decimal | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, description="an amount in the order's currency, within its decimals"
    )


class ExchangeItem(BaseModel):
    item_id: ItemId
    quantity: Quantity = 1
    replacement_sku: str = Field(min_length=1, max_length=128)
    replacement_name: str = Field(default="", max_length=200)


class ExchangeCommand(Command):
    idempotency_key: str = _KEY
    items: list[ExchangeItem] = Field(min_length=1, max_length=MAX_LINES)
    reason: str = Field(default="", max_length=500)


class CancelCommand(Command):
    reason: str = Field(default="", max_length=500, description="why, in words the customer may hear")


class PauseCommand(Command):
    until: AwareDatetime | None = Field(
        default=None, description="resume by itself then (with its UTC offset); none = until resumed"
    )


class ResumeCommand(Command):
    pass


class OptOutCommand(Command):
    channels: list[Channel] = Field(min_length=1, max_length=len(Channel))


class NoteCommand(Command):
    text: str = Field(min_length=1, max_length=4000)


class RefundRecord(BaseModel):
    """One refund. `status`: succeeded | pending (on its way) | unknown (the provider's answer was lost: held
    against what is refundable until it is looked up) | not_made (looked up: it never happened, or failed).

    `provider_key` is the idempotency key the provider got (and keeps in the refund's metadata): how an
    `unknown` refund is found again."""

    key: str
    amount: Decimal
    currency: str
    reason: RefundReason
    items: dict[str, int] = Field(default_factory=dict)
    note: str = ""
    provider: str
    provider_refund_id: str
    status: str
    by: Actor
    at: datetime
    provider_key: str = ""
    detail: str = Field(default="", description="why the outcome is unknown, or what looking it up found")

    @property
    def held(self) -> bool:
        return self.status in REFUND_HELD


class ExchangeBonus(BaseModel):
    amount: Decimal
    currency: str
    kind: Literal["flat", "percent"]
    value: Decimal


class ExchangeRecord(BaseModel):
    """One exchange: what goes back (with its label), what replaces it, and how far the replacement got."""

    exchange_id: str
    key: str
    items: list[ExchangeItem]
    reason: str = ""
    label: ReturnLabel
    bonus: ExchangeBonus | None = None
    replacement_tracking_number: str | None = None
    replacement_delivered_at: datetime | None = None
    by: Actor
    at: datetime

    @property
    def open(self) -> bool:
        """The replacement has not reached the customer yet."""
        return self.replacement_delivered_at is None

    def covers(self, item_id: str | None) -> bool:
        return item_id is None or any(i.item_id == item_id for i in self.items)


class Note(BaseModel):
    text: str
    by: Actor
    at: datetime


class ActionRecord(BaseModel):
    """One line of the order's action log, as the journey's state shows it."""

    update_id: str
    action: str
    by: Actor
    at: datetime
    summary: str


class ActionResult(BaseModel):
    """What every action returns: what happened, in a sentence, plus the action's own details."""

    action: str
    summary: str
    at: datetime
    repeated: bool = Field(default=False, description="the same idempotency key was seen before: nothing new")
    refund: RefundRecord | None = None
    exchange: ExchangeRecord | None = None
    refunded_total: Decimal | None = None
    refundable: Decimal | None = None
    details: dict[str, Any] = Field(default_factory=dict)

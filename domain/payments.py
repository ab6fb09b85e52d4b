"""Money back to the customer: where an order was paid, why a refund is given, and what the provider said."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class PaymentRef(BaseModel):
    """Where the order's money sits at the payment provider (a Stripe PaymentIntent, `pi_...`)."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["stripe"] = "stripe"
    reference: str = Field(min_length=3, max_length=255, description="e.g. the PaymentIntent id pi_3Nx...")


class RefundReason(StrEnum):
    DAMAGED = "damaged"
    LATE = "late"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    GOODWILL = "goodwill"
    OTHER = "other"


class RefundInstruction(BaseModel):
    """Input of the `issue_refund` activity. `idempotency_key` goes to the provider: a retry refunds once."""

    idempotency_key: str
    merchant_id: str
    order_id: str
    payment: PaymentRef
    amount: Decimal = Field(gt=0)
    currency: str = Field(min_length=3, max_length=3)
    reason: RefundReason
    note: str = ""
    requested_by: str = ""


class RefundReceipt(BaseModel):
    """What the provider answered: its refund id, and the amount it actually refunded."""

    provider: str
    refund_id: str
    amount: Decimal
    currency: str
    status: Literal["succeeded", "pending"]
    created_at: datetime

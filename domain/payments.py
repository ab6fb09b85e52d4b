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


PAYMENT_REFUSED = "PaymentRefused"
"""ApplicationError type of a payment activity the provider refused for good (details: code, status_code)."""
PAYMENT_NOT_CONFIGURED = "PaymentNotConfigured"
"""ApplicationError type when the merchant's payment credentials are not named or not set on the worker."""

# Currencies whose minor unit is not the cent (ISO 4217 / Stripe): 500 JPY is 500, 1.234 KWD is 1234.
ZERO_DECIMAL = frozenset(
    {"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"}
)
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


def currency_exponent(currency: str) -> int:
    """How many decimals `currency` has (0 for JPY, 3 for KWD, else 2): the most an amount in it may carry."""
    code = currency.upper()
    return 0 if code in ZERO_DECIMAL else 3 if code in THREE_DECIMAL else 2


class RefundReason(StrEnum):
    DAMAGED = "damaged"
    LATE = "late"
    WRONG_ITEM = "wrong_item"
    NOT_AS_DESCRIBED = "not_as_described"
    GOODWILL = "goodwill"
    OTHER = "other"


class PaymentLookup(BaseModel):
    """Input of `look_up_payment` and `find_refund`: a payment, at the provider, in the merchant's own account.

    `credentials_env` names the environment variables that hold the merchant's key (the policy's
    `payments.credentials_env`); the worker reads the values, so no secret is ever in a history.
    `idempotency_key` is what `find_refund` looks for (our key, kept in the refund's metadata).
    """

    merchant_id: str
    order_id: str
    payment: PaymentRef
    credentials_env: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str = ""


class PaymentFacts(BaseModel):
    """What the provider says about a payment: its currency, what it captured and what is refunded already.

    `refunded` counts refunds that went through or are on their way (not failed or cancelled ones).
    """

    provider: str
    reference: str
    currency: str
    status: str
    captured: Decimal
    refunded: Decimal

    @property
    def refundable(self) -> Decimal:
        return max(self.captured - self.refunded, Decimal(0))


class RefundInstruction(BaseModel):
    """Input of the `issue_refund` activity. `idempotency_key` goes to the provider: a retry refunds once.

    `credentials_env`: as in PaymentLookup, the names of the variables holding the merchant's key.
    """

    idempotency_key: str
    merchant_id: str
    order_id: str
    payment: PaymentRef
    credentials_env: dict[str, str] = Field(default_factory=dict)
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


class FoundRefund(BaseModel):
    """What `find_refund` found for an idempotency key: the refund, or None with why (never made, or failed)."""

    receipt: RefundReceipt | None = None
    detail: str = ""

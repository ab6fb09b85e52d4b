"""Stripe's format to ours and back: our refund instruction as Stripe's form, its objects as our facts.

Stripe takes form-encoded requests (`metadata[key]=value`); it answers with JSON objects whose
amounts are minor units (`units.py`) and whose `created` is a Unix timestamp.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from connectors.payments.base import PaymentError
from connectors.payments.stripe.units import (
    FAILED_STATUSES,
    PENDING_STATUSES,
    STRIPE_REASON,
    SUCCEEDED_STATUS,
    from_minor_units,
)
from domain import RefundInstruction, RefundReceipt

METADATA_VALUE_MAX = 500  # Stripe's limit on a metadata value
KEY_METADATA = "aftercare_key"  # our idempotency key, kept on the refund so a lost answer can be found again


def metadata(instruction: RefundInstruction) -> dict[str, str]:
    """Why, who, and which order, as Stripe metadata (empty values would unset keys, so they are left out)."""
    values = {
        "aftercare_reason": instruction.reason.value,
        "merchant_id": instruction.merchant_id,
        "order_id": instruction.order_id,
        "requested_by": instruction.requested_by,
        "note": instruction.note,
        KEY_METADATA: instruction.idempotency_key,
    }
    return {f"metadata[{k}]": v[:METADATA_VALUE_MAX] for k, v in values.items() if v}


def refund_form(instruction: RefundInstruction, minor: int) -> dict[str, str]:
    """The `POST /v1/refunds` form for `instruction`, its amount already in minor units."""
    return {
        "payment_intent": instruction.payment.reference,
        "amount": str(minor),
        "reason": STRIPE_REASON[instruction.reason],
        **metadata(instruction),
    }


def made_under(refund: dict[str, Any], idempotency_key: str) -> bool:
    """Whether `refund` was made under our `idempotency_key` (its metadata says so)."""
    found = refund.get("metadata")
    return isinstance(found, dict) and found.get(KEY_METADATA) == idempotency_key


def failure(refund: dict[str, Any], refund_id: str) -> str | None:
    """`refund <refund_id> is failed (reason)` for a refund that failed or was canceled; None otherwise."""
    status = str(refund.get("status") or "")
    if status not in FAILED_STATUSES:
        return None
    reason = refund.get("failure_reason")
    said = f" ({reason})" if reason else ""
    return f"refund {refund_id} is {status}{said}"


def captured_amount(intent: dict[str, Any], reference: str) -> tuple[str, Decimal]:
    """A PaymentIntent's currency and what it captured; PaymentError if Stripe left either out."""
    try:
        currency = str(intent["currency"]).upper()
        return currency, from_minor_units(int(intent.get("amount_received") or 0), currency)
    except (KeyError, TypeError, ValueError) as exc:
        raise PaymentError(f"Stripe's PaymentIntent {reference} lacks {exc}", retryable=True) from exc


def refunded_amount(refunds: Iterable[dict[str, Any]], currency: str) -> Decimal:
    """What the refunds took back (those that failed or were canceled took nothing)."""
    minor = sum((int(r.get("amount") or 0) for r in refunds if str(r.get("status")) not in FAILED_STATUSES), 0)
    return from_minor_units(minor, currency)


def receipt(refund: dict[str, Any], what: str, provider: str) -> RefundReceipt:
    """A Stripe refund as our receipt; PaymentError if it failed or has a status we do not know."""
    status = str(refund.get("status") or "")
    refund_id = str(refund.get("id") or "")
    failed = failure(refund, refund_id)
    if failed:
        raise PaymentError(f"Stripe could not refund {what}: {failed}", retryable=False, code=f"refund_{status}")
    if status != SUCCEEDED_STATUS and status not in PENDING_STATUSES:
        raise PaymentError(f"Stripe answered the refund of {what} with an unknown status {status!r}",
                           retryable=True)  # fmt: skip
    try:
        currency = str(refund["currency"]).upper()
        amount = from_minor_units(int(refund["amount"]), currency)
        created = datetime.fromtimestamp(int(refund["created"]), UTC)
    except (KeyError, TypeError, ValueError) as exc:
        raise PaymentError(f"Stripe's refund {refund_id} for {what} lacks {exc}", retryable=True) from exc
    return RefundReceipt(
        provider=provider,
        refund_id=refund_id,
        amount=amount,
        currency=currency,
        status="succeeded" if status == SUCCEEDED_STATUS else "pending",
        created_at=created,
    )

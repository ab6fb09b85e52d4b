"""Stripe's units: amounts in each currency's minor unit, and Stripe's refund statuses and reasons onto ours.

Stripe takes amounts as integers in the currency's minor unit (cents; yen for the zero-decimal
currencies; thousandths for the three-decimal ones). How many decimals each currency has is the
shared table in `domain.payments` (`currency_exponent`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from domain import RefundReason
from domain.payments import currency_exponent

# Stripe accepts only duplicate | fraudulent | requested_by_customer. Ours are all the customer's case
# (fraudulent would also block the card), so ours goes along in metadata for the merchant's records.
STRIPE_REASON: dict[RefundReason, str] = {reason: "requested_by_customer" for reason in RefundReason}

# Refund statuses: `requires_action` waits on the customer (e.g. bank details), so it is still on its way.
SUCCEEDED_STATUS = "succeeded"
PENDING_STATUSES = frozenset({"pending", "requires_action"})
FAILED_STATUSES = frozenset({"failed", "canceled"})


def to_minor_units(amount: Decimal, currency: str) -> int:
    """`amount` in Stripe's minor unit; ValueError naming the amount if the currency cannot hold it."""
    exponent = currency_exponent(currency)
    try:
        scaled = amount.scaleb(exponent)
        exact = scaled == scaled.to_integral_value()
    except InvalidOperation:
        exact = False
    if not exact:
        raise ValueError(f"{amount} {currency.upper()} has more decimals than {currency.upper()} allows ({exponent})")
    minor = int(scaled)
    if exponent == 3 and minor % 10:
        raise ValueError(f"{amount} {currency.upper()}: Stripe takes {currency.upper()} amounts in steps of 0.010")
    return minor


def from_minor_units(minor: int, currency: str) -> Decimal:
    """A Stripe minor-unit integer back as a Decimal in the currency's unit (1999 EUR cents -> 19.99)."""
    return Decimal(minor).scaleb(-currency_exponent(currency))


def format_money(amount: Decimal, currency: str) -> str:
    """`30.00 EUR`, `500 JPY`: the way a support agent reads an amount (never rounded: 12.5 JPY stays 12.5)."""
    exponent = amount.as_tuple().exponent
    places = max(currency_exponent(currency), -exponent if isinstance(exponent, int) else 0)
    return f"{amount:.{places}f} {currency.upper()}"
